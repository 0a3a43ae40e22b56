"""What a distributed worker may read (common.target_policy), and the scanner applying it."""

from __future__ import annotations

from pathlib import Path

import pytest
from _media import write_face_video

from common.errors import ScanError
from common.settings import Settings
from common.target_policy import check_worker_target
from models.bundle import load_bundle
from models.scanner import Scanner


def _code(target: str, settings: Settings) -> str | None:
    try:
        check_worker_target(target, settings)
    except ScanError as exc:
        return exc.code
    return None


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("https://media.example/v.mp4", None),
        ("http://user:secret@media.example:8080/v.mp4", None),  # userinfo parsed, host kept
        ("s3://bucket/key/v.mp4", None),
        ("S3://bucket/v.mp4", None),
        ("file:///etc/passwd", "blocked_scheme"),
        ("gopher://media.example/v.mp4", "blocked_scheme"),
        ("ftp://media.example/v.mp4", "blocked_scheme"),
        ("/etc/passwd", "blocked_path"),
        ("clips/v.mp4", "blocked_path"),
        ("http://[::1/v.mp4", "bad_url"),
        ("http://h:port/v.mp4", "bad_url"),
        ("http:///v.mp4", "bad_url"),
        ("s3://bucket", "bad_url"),
        ("http://h/v.mp4\r\nX-Injected: 1", "bad_url"),
        ("http://h/" + "a" * 5000, "bad_url"),
    ],
)
def test_without_a_local_root(target: str, code: str | None) -> None:
    assert _code(target, Settings()) == code


def test_a_local_root_admits_only_what_lies_inside(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.mp4").write_bytes(b"x")
    (root / "escape.mp4").symlink_to(tmp_path / "secret.mp4")
    settings = Settings(local_root=root)
    assert _code(str(root / "sub" / "v.mp4"), settings) is None
    assert _code(f"file://{root}/v.mp4", settings) is None
    assert _code(str(tmp_path / "secret.mp4"), settings) == "blocked_path"
    assert _code(str(root / "escape.mp4"), settings) == "blocked_path"  # via a symlink
    assert _code(str(root / ".." / "secret.mp4"), settings) == "blocked_path"
    assert _code("media/v.mp4", settings) == "blocked_path"  # relative


def test_the_worker_scanner_applies_the_policy(tmp_path: Path) -> None:
    video = write_face_video(tmp_path / "media" / "v.mp4", n=4)
    bundle = load_bundle()
    worker = Scanner(Settings(frames_per_video=2), bundle)
    # Outside any root, existing or not: the same answer, so a submitter learns nothing.
    for target in (str(video), str(tmp_path / "missing.mp4"), f"file://{video}"):
        r = worker.scan(target)
        assert r.error is not None and r.error["code"] in ("blocked_path", "blocked_scheme")
    assert (
        worker.scan(str(video)).error["message"]
        == worker.scan(str(tmp_path / "missing.mp4")).error["message"]
    )
    rooted = Scanner(Settings(frames_per_video=2, local_root=tmp_path / "media"), bundle)
    assert rooted.scan(str(video)).error is None
    assert rooted.scan(f"file://{video}").error is None
    # The embedded scanner reads whatever its user names.
    assert (
        Scanner(Settings(frames_per_video=2), bundle, local_files=True).scan(str(video)).error
        is None
    )
