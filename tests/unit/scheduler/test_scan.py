"""End to end on the shipped default model: Scanner, run_embedded and `dfscan scan`.

Samples are made here (models.samples: the astronaut's face; the fake pastes a degraded,
tinted copy of the face back through a soft mask). Bad inputs each get one result with a
stable error code, and the rest of the list goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import _media
import pytest
from _media import (
    ConnectLog,
    MediaServer,
    closed_port,
    face_frames,
    gradient_bgr,
    no_face_bgr,
    small_face_frames,
    write_face_video,
    write_garbage,
    write_image,
    write_mpeg_ps,
    write_text_as_video,
    write_truncated,
    write_zero_byte,
)
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from common.db import Scan, Video, make_engine, session_factory, session_scope
from common.features import ALL_FAMILIES
from common.settings import Settings
from common.types import ScanResult
from models.bundle import DEFAULT_BUNDLE, META, PICKLE, SUMS, bundle_digest, load_bundle
from models.scanner import Scanner
from scheduler.cli import EXIT_SOME_ERRORS, main
from scheduler.embedded import run_embedded

media_server = _media.media_server
connect_log = _media.connect_log

FRAMES = 6
JSON_KEYS = {"target", "score", "label", "frames_used", "faces_found", "seconds", "error"}
BLOCKED_URL = "http://169.254.169.254/latest/meta-data/video.mp4"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("scan_media")
    real = write_face_video(d / "real.mp4", n=12)
    empty_folder = d / "empty_folder"
    empty_folder.mkdir()
    return {
        "real": real,
        "fake": write_face_video(d / "fake.mp4", n=12, fake=True),
        "empty": write_zero_byte(d / "empty.mp4"),
        "truncated": write_truncated(real, d / "truncated.mp4"),
        "text": write_text_as_video(d / "notes.mp4"),
        "garbage": write_garbage(d / "garbage.mp4"),
        "mpeg_ps": write_mpeg_ps(d / "talk.mpg", face_frames(30)),
        "wide": _media.write_video(d / "wide.mp4", small_face_frames(12, 44)),
        "coffee": write_image(d / "coffee.png", no_face_bgr()),
        "gradient": write_image(d / "gradient.jpg", gradient_bgr()),
        "empty_folder": empty_folder,
        "missing": d / "missing.mp4",
    }


def _settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "frames_per_video": FRAMES,
        "allow_private_hosts": ["127.0.0.1"],
        "fetch_timeout_s": 5.0,
        "workers": 1,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(_settings(), load_bundle(), local_files=True)


@pytest.fixture(scope="module")
def real_result(scanner: Scanner, media: dict[str, Path]) -> ScanResult:
    return scanner.scan(str(media["real"]))


# --------------------------------------------------------------------------- Scanner


def test_real_sample_is_scored(real_result: ScanResult, media: dict[str, Path]) -> None:
    r = real_result
    assert r.error is None
    assert r.target == str(media["real"])
    assert 0.0 <= r.score <= 1.0
    threshold = load_bundle().threshold
    assert r.label == ("fake" if r.score >= threshold else "real")
    assert r.frames_used == FRAMES
    assert 0 < r.faces_found <= r.frames_used
    assert r.seconds > 0
    assert r.model_version == load_bundle().version
    bundle = load_bundle()
    used = {*bundle.families, *(["temporal"] if bundle.temporal else [])}
    assert list(r.families) == [f for f in ALL_FAMILIES if f in used]  # registry order
    assert {"fetch", "decode", "faces", "features", "classify"} <= set(r.timings)


def test_fake_sample_scores_higher_than_real(
    scanner: Scanner,
    real_result: ScanResult,
    media: dict[str, Path],
) -> None:
    fake = scanner.scan(str(media["fake"]))
    assert fake.error is None and fake.faces_found > 0
    assert fake.score > real_result.score


def test_http_sample_scores_like_the_local_file(
    scanner: Scanner,
    real_result: ScanResult,
    media: dict[str, Path],
    media_server: MediaServer,
) -> None:
    media_server.add("real.mp4", media["real"])
    r = scanner.scan(media_server.url("/norange/real.mp4"))
    assert r.error is None
    assert r.score == pytest.approx(real_result.score, abs=1e-6)  # the same bytes
    assert r.content_sha256 == hashlib.sha256(media["real"].read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["mpeg_ps", "wide"])
def test_mpeg_ps_and_small_face_are_read_and_scored(
    scanner: Scanner, media: dict[str, Path], name: str
) -> None:
    # An MPEG program stream (seeks land past their keyframe: read in order instead) and a
    # 44-px face in a 1280x720 wide shot (found by the enlarged second pass).
    r = scanner.scan(str(media[name]))
    assert r.error is None, r.error
    assert r.frames_used == FRAMES and r.faces_found >= FRAMES - 1
    assert 0.0 <= r.score <= 1.0 and r.label in ("fake", "real")


BAD = [
    ("empty", "empty_file"),
    ("truncated", "unreadable"),
    ("text", "unreadable"),
    ("garbage", "unreadable"),
    ("coffee", "no_face"),
    ("gradient", "no_face"),
    ("empty_folder", "empty_folder"),
    ("missing", "not_found"),
]


@pytest.mark.parametrize(("name", "code"), BAD)
def test_bad_input_gets_its_code(
    scanner: Scanner, media: dict[str, Path], name: str, code: str
) -> None:
    r = scanner.scan(str(media[name]))
    assert r.error is not None and r.error["code"] == code, r.error
    assert r.error["message"]
    assert r.score is None and r.label is None


def test_unreachable_url(scanner: Scanner) -> None:
    url = f"http://127.0.0.1:{closed_port()}/clip.mp4"
    r = scanner.scan(url)
    assert r.error is not None and r.error["code"] == "unreachable"
    # A Celery task asks for retryable errors to be raised instead, so it can retry them.
    from common.errors import FetchError

    with pytest.raises(FetchError):
        scanner.scan(url, raise_retryable=True)


def test_private_address(scanner: Scanner, connect_log: ConnectLog) -> None:
    r = scanner.scan(BLOCKED_URL)
    assert r.error is not None and r.error["code"] == "blocked_address"
    assert scanner.scan(BLOCKED_URL, raise_retryable=True).error["code"] == "blocked_address"
    assert connect_log.attempts == []


# --------------------------------------------------------------------------- embedded list


def _count(db: str, model: type) -> int:
    engine = make_engine(db)
    try:
        with session_scope(session_factory(engine)) as s:
            return s.scalar(select(func.count()).select_from(model))
    finally:
        engine.dispose()


def test_run_embedded_goes_on_after_bad_input(
    media: dict[str, Path], tmp_path: Path, connect_log: ConnectLog
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    targets = [
        str(media["empty"]),
        str(media["real"]),
        str(media["text"]),
        f"http://127.0.0.1:{closed_port()}/x.mp4",
        BLOCKED_URL,
        str(media["coffee"]),
        str(media["fake"]),
    ]
    seen: list[str] = []
    results = run_embedded(
        targets, _settings(database_url=db), on_result=lambda r: seen.append(r.target)
    )
    assert [r.target for r in results] == targets == seen
    codes = [r.error["code"] if r.error else None for r in results]
    assert codes == [
        "empty_file",
        None,
        "unreadable",
        "unreachable",
        "blocked_address",
        "no_face",
        None,
    ]
    assert _count(db, Scan) == len(targets)
    engine = make_engine(db)
    with session_scope(session_factory(engine)) as s:
        rows = {v.url: sc for sc, v in s.execute(select(Scan, Video).join(Video))}
        assert rows[str(media["real"].resolve())].status == "done"
        assert rows[str(media["empty"].resolve())].error_code == "empty_file"
        assert rows[BLOCKED_URL].status == "failed"
    engine.dispose()
    assert connect_log.non_loopback() == []


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for var in [v for v in os.environ if v.startswith("DFSCAN_") and "TEST" not in v]:
        monkeypatch.delenv(var)
    return {"DFSCAN_ALLOW_PRIVATE_HOSTS": '["127.0.0.1"]', "DFSCAN_FETCH_TIMEOUT_S": "5"}


def _cli(args: list[str], db: str, env: dict[str, str]) -> tuple[Result, list[dict]]:
    argv = ["scan", *args, "--json", "--workers", "1", "--frames", "4", "--db", db]
    result = CliRunner().invoke(main, argv, env=env, catch_exceptions=False)
    return result, json.loads(result.stdout)


def test_cli_json_and_exit_code(
    media: dict[str, Path], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    unreachable = f"http://127.0.0.1:{closed_port()}/x.mp4"
    targets = [str(media["real"]), str(media["empty"]), unreachable, str(media["fake"])]
    result, out = _cli(targets, db, cli_env)
    assert result.exit_code == EXIT_SOME_ERRORS
    assert isinstance(out, list) and len(out) == len(targets)
    for item in out:
        assert set(item) >= JSON_KEYS
    assert [o["target"] for o in out] == targets
    good, empty, unr, fake = out
    assert good["error"] is None and 0 <= good["score"] <= 1 and good["label"] in ("real", "fake")
    assert good["frames_used"] == 4 and good["faces_found"] > 0 and good["seconds"] > 0
    assert empty["error"]["code"] == "empty_file" and empty["error"]["message"]
    assert empty["score"] is None and empty["label"] is None
    assert unr["error"]["code"] == "unreachable"
    assert fake["score"] > good["score"]
    assert "content_sha256" not in good


def test_cli_exit_zero_when_all_scanned(
    media: dict[str, Path], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result, out = _cli([str(media["real"])], f"sqlite:///{tmp_path / 'ok.db'}", cli_env)
    assert result.exit_code == 0
    assert len(out) == 1 and out[0]["error"] is None


def test_fake_verdict_is_not_a_failure(
    media: dict[str, Path], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # A copy of the default model that calls everything fake (threshold 0), checksums rewritten.
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_BUNDLE, model)
    meta = json.loads((model / META).read_text())
    meta["threshold"] = 0.0
    (model / META).write_text(json.dumps(meta))
    (model / SUMS).write_text(
        "".join(
            f"{hashlib.sha256((model / n).read_bytes()).hexdigest()}  {n}\n" for n in (PICKLE, META)
        )
    )
    db = f"sqlite:///{tmp_path / 'f.db'}"
    args = [str(media["real"]), "--model", str(model)]
    # A bundle with rewritten sums is not trusted: one line, exit 2, nothing scanned.
    refused = CliRunner().invoke(main, ["scan", "--db", db, *args], env=cli_env)
    assert refused.exit_code == 2 and "is not trusted" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "f.db").exists()
    # Vouched for by the operator, it scans (and calls everything fake).
    env = {**cli_env, "DFSCAN_MODEL_SHA256": bundle_digest(model)}
    result, out = _cli(args, db, env)
    assert out[0]["label"] == "fake"
    assert result.exit_code == 0


def test_rescan_does_not_duplicate_rows(
    media: dict[str, Path], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    db = f"sqlite:///{tmp_path / 'idem.db'}"
    targets = [str(media["real"]), str(media["text"]), str(media["missing"])]
    first, out1 = _cli(targets, db, cli_env)
    assert _count(db, Scan) == _count(db, Video) == len(targets)
    second, out2 = _cli(targets, db, cli_env)
    assert first.exit_code == second.exit_code == EXIT_SOME_ERRORS
    assert _count(db, Scan) == _count(db, Video) == len(targets)
    # The same scores to the bit, though each run scans in fresh worker processes.
    assert [o["score"] for o in out1] == [o["score"] for o in out2]
    # The same file named another way is the same video.
    rel = os.path.relpath(media["real"])
    _cli([rel], db, cli_env)
    assert _count(db, Scan) == len(targets)


def test_list_file_with_relative_paths(
    media: dict[str, Path], tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lists"
    (folder / "clips").mkdir(parents=True)
    shutil.copy(media["real"], folder / "clips" / "a.mp4")
    shutil.copy(media["empty"], folder / "clips" / "b.mp4")
    listing = folder / "todo.txt"
    listing.write_text("# two clips, relative to this file\nclips/a.mp4\n\n  clips/b.mp4  \n")
    monkeypatch.chdir(tmp_path)  # not the list's folder: paths resolve against the list
    db = f"sqlite:///{tmp_path / 'list.db'}"
    result, out = _cli([str(listing)], db, cli_env)
    assert [o["target"] for o in out] == [
        str((folder / "clips" / "a.mp4").resolve()),
        str((folder / "clips" / "b.mp4").resolve()),
    ]
    assert out[0]["error"] is None
    assert out[1]["error"]["code"] == "empty_file"
    assert result.exit_code == EXIT_SOME_ERRORS


def test_console_script(media: dict[str, Path], tmp_path: Path) -> None:
    """The installed `dfscan` command, in a fresh process, as a user runs it."""
    exe = Path(sys.executable).parent / "dfscan"
    assert exe.exists(), f"no dfscan console script beside {sys.executable}: run scripts/setup"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFSCAN_")}
    cmd = [str(exe), "scan", str(media["real"]), str(media["empty"]), "--json"]
    cmd += ["--workers", "1", "--frames", "3", "--db", f"sqlite:///{tmp_path / 'sub.db'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == EXIT_SOME_ERRORS, proc.stderr
    out = json.loads(proc.stdout)
    assert [o["error"] and o["error"]["code"] for o in out] == [None, "empty_file"]
    assert 0 <= out[0]["score"] <= 1


def test_the_embedded_scan_imports_no_celery(media: dict[str, Path], tmp_path: Path) -> None:
    """`dfscan scan` in a fresh interpreter, as a user runs it: Celery is never imported."""
    code = (
        "import sys\n"
        "from scheduler.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('celery', 'kombu')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFSCAN_")}
    args = ["scan", str(media["real"]), "--workers", "1", "--frames", "3", "--json"]
    args += ["--db", f"sqlite:///{tmp_path / 'nocelery.db'}"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    *scan_output, imported = proc.stdout.strip().splitlines()
    assert json.loads("\n".join(scan_output))[0]["error"] is None
    assert imported == "[]"
