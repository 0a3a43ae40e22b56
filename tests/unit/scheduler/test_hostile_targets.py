"""Hostile targets: every one gets one result with a clear code, and the run goes on.

All made here: a symlink loop, a dangling symlink, a file and a folder without read
permission, names that are not UTF-8, a FIFO, a device, a PNG decompression bomb, a list
that names itself, a folder deleted while it is scanned. Read permission means nothing to
a root process that may override it (CI runs as root), so the command-line run then gives up
that capability (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) and meets file modes as any user.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _media import write_face_video, write_garbage, write_png_bomb, write_text_as_video

from common.settings import Settings
from models.bundle import load_bundle
from models.scanner import Scanner
from scheduler.cli import EXIT_SOME_ERRORS
from scheduler.embedded import run_embedded
from scheduler.lists import ListError
from scheduler.targets import Refused, expand

CAFE = os.fsdecode(b"caf\xe9.mp4")  # Latin-1 bytes: not UTF-8
JUNK = os.fsdecode(b"\xff\xfe junk.mp4")
FRAMES = 4


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder of odd entries, a PNG bomb and a list that names itself."""
    root = tmp_path_factory.mktemp("hostile")
    d = root / "corpus"
    good = write_face_video(d / "good.mp4", n=12)
    shutil.copy(good, d / CAFE)
    write_garbage(d / JUNK)
    (d / "loop.mp4").symlink_to("loop.mp4")
    (d / "gone.mp4").symlink_to("missing.mp4")
    shutil.copy(good, d / "noread.mp4")
    (d / "noread.mp4").chmod(0)
    (d / "locked").mkdir()
    shutil.copy(good, d / "locked" / "inner.mp4")
    (d / "locked").chmod(0)
    os.mkfifo(d / "fifo.mp4")
    (d / "zero.mp4").symlink_to("/dev/zero")
    (d / "empty.mp4").write_bytes(b"")
    write_text_as_video(d / "notes.mp4")
    write_png_bomb(root / "bomb.png")
    (root / "self.txt").write_text("self.txt\ncorpus/good.mp4\n")
    yield root
    for p in (d / "noread.mp4", d / "locked"):  # so that pytest can clean up
        p.chmod(0o755)


# What each target of the corpus gets: (error code or None, words its message must hold).
EXPECTED = {
    "good.mp4": (None, ""),
    CAFE: (None, ""),
    JUNK: ("unreadable", ""),
    "loop.mp4": ("unreadable", "symlink loop"),
    "gone.mp4": ("not_found", ""),
    "noread.mp4": ("unreadable", "permission denied"),
    "locked": ("unreadable", "permission denied"),
    "fifo.mp4": ("blocked_path", "FIFO"),
    "zero.mp4": ("blocked_path", "device"),
    "empty.mp4": ("empty_file", ""),
    "notes.mp4": ("unreadable", ""),
}


def _obey_file_modes() -> None:
    """In the child, before exec: drop root's power to read past file modes (for good: out of
    the bounding set, so the exec'd process never has it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (linux/capability.h)
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run_cli(root: Path, *targets: str) -> subprocess.CompletedProcess[bytes]:
    exe = Path(sys.executable).parent / "dfscan"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFSCAN_")}
    env["DFSCAN_DATABASE_URL"] = f"sqlite:///{root / 'scan.db'}"
    cmd = [str(exe), "scan", "--json", "--workers", "2", "--frames", str(FRAMES), *targets]
    return subprocess.run(
        cmd,
        capture_output=True,
        env=env,
        cwd=root,
        timeout=300,
        preexec_fn=_obey_file_modes if os.geteuid() == 0 else None,
        check=False,
    )


def test_a_folder_of_hostile_targets_gives_one_result_each(hostile: Path) -> None:
    proc = _run_cli(hostile, "corpus", "bomb.png", "self.txt")
    assert proc.returncode == EXIT_SOME_ERRORS, proc.stderr.decode(errors="replace")[-3000:]
    assert b"Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    names = [Path(o["target"]).name for o in out]
    corpus = names[: len(EXPECTED)]
    # One result per corpus entry (the name that is not UTF-8 shown with its byte escaped),
    # then the bomb, then the list's two entries.
    shown = {CAFE: "caf\\xe9.mp4", JUNK: "\\xff\\xfe junk.mp4"}
    assert sorted(corpus) == sorted(shown.get(n, n) for n in EXPECTED)
    assert names[len(EXPECTED) :] == ["bomb.png", "self.txt", "good.mp4"]
    by_name = dict(zip(corpus, out[: len(EXPECTED)], strict=True))
    for name, (code, words) in EXPECTED.items():
        got = by_name[shown.get(name, name)]
        assert (got["error"] or {}).get("code") == code, (name, got["error"])
        assert words in (got["error"] or {}).get("message", ""), (name, got["error"])
    # The same bytes under a name that is not UTF-8 score exactly as under a plain name.
    assert by_name["caf\\xe9.mp4"]["score"] == by_name["good.mp4"]["score"] is not None
    bomb, itself, listed = out[len(EXPECTED) :]
    assert bomb["error"]["code"] == "frame_too_large"
    assert (
        itself["error"]["code"] == "unreadable"
        and "already being read" in itself["error"]["message"]
    )
    assert listed["error"] is None and listed["score"] == by_name["good.mp4"]["score"]
    # Every target has its row; good.mp4 (in the folder and in the list) is one video.
    db = sqlite3.connect(hostile / "scan.db")
    try:
        rows = dict(
            db.execute(
                "SELECT v.url, s.error_code FROM scans s JOIN videos v ON v.id = s.video_id"
            ).fetchall()
        )
    finally:
        db.close()
    assert len(rows) == len(out) - 1
    assert rows[str(hostile / "corpus" / "loop.mp4")] == "unreadable"
    assert rows[str(hostile / "corpus" / "caf\\xe9.mp4")] is None


# --------------------------------------------------------------------------- expansion


def test_a_list_that_names_itself_or_a_cycle(tmp_path: Path) -> None:
    good = write_face_video(tmp_path / "v.mp4", n=2)
    (tmp_path / "a.txt").write_text("b.txt\nv.mp4\n")
    (tmp_path / "b.txt").write_text(f"{tmp_path / 'a.txt'}\n")
    got = expand(str(tmp_path / "a.txt"))
    assert len(got) == 2 and got[1] == str(good)
    refused = got[0]
    assert isinstance(refused, Refused) and refused.code == "unreadable"
    assert refused.target == str(tmp_path / "a.txt") and "already being read" in refused.message


def test_folders_are_searched_recursively_once(tmp_path: Path) -> None:
    (tmp_path / "x" / "clip").mkdir(parents=True)
    (tmp_path / "x" / "b.mp4").write_bytes(b"1")
    (tmp_path / "x" / "a.MOV").write_bytes(b"1")
    (tmp_path / "x" / "clip" / "0001.png").write_bytes(b"1")
    (tmp_path / "x" / "notes.csv").write_text("url\nnot/a/target.mp4\n")  # not a list here
    (tmp_path / "x" / "up").symlink_to(tmp_path / "x")  # a loop back up the tree
    assert expand(str(tmp_path / "x")) == [
        str(tmp_path / "x" / "a.MOV"),
        str(tmp_path / "x" / "b.mp4"),
        str(tmp_path / "x" / "clip"),  # frames without a video: one clip
    ]
    (tmp_path / "empty").mkdir()
    assert expand(str(tmp_path / "empty")) == [str(tmp_path / "empty")]  # empty_folder later


def test_a_bad_list_is_a_usage_error_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "l.txt"
    bad.write_bytes(b"a.mp4\nb.mp4\n\xff\xfe\x00junk\n")
    with pytest.raises(ListError, match=r"l\.txt:3: binary data"):
        expand(str(bad))


# --------------------------------------------------------------------------- scan and worker


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(Settings(frames_per_video=FRAMES, workers=1), load_bundle(), local_files=True)


# Read permission is checked as nobody by the command-line test (root reads any file).
IN_PROCESS = sorted(set(EXPECTED) - {"good.mp4", CAFE, "locked", "noread.mp4"})


@pytest.mark.parametrize("name", IN_PROCESS)
def test_the_scanner_never_raises_on_a_hostile_path(
    scanner: Scanner, hostile: Path, name: str
) -> None:
    # What a Celery worker runs for each task: an error result, never an exception or a
    # hang (the FIFO) or a dead process (a name that is not UTF-8 reaching OpenCV).
    code, _ = EXPECTED[name]
    r = scanner.scan(str(hostile / "corpus" / name))
    assert r.error is not None and r.error["code"] == code, r.error
    r.target.encode("utf-8")  # printable and storable as it is


def test_a_folder_deleted_while_it_is_scanned(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    for i in range(3):
        write_face_video(folder / f"{i}.mp4", n=3)
    targets = expand(str(folder))
    db = f"sqlite:///{tmp_path / 'r.db'}"

    def delete_after_the_first(_r: object) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    settings = Settings(frames_per_video=2, workers=1, database_url=db)
    results = run_embedded(targets, settings, on_result=delete_after_the_first)
    assert [r.error and r.error["code"] for r in results] == [None, "not_found", "not_found"]


def test_a_frames_folder_deleted_before_its_scan(scanner: Scanner, tmp_path: Path) -> None:
    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "0001.png").write_bytes(b"x")
    (targets,) = expand(str(clip))
    shutil.rmtree(clip)
    assert scanner.scan(str(targets)).error["code"] == "not_found"


def test_a_results_database_that_cannot_be_opened_is_one_line_and_exit_4(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from scheduler.cli import main

    db = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'r.db'}"
    out = CliRunner().invoke(main, ["scan", str(tmp_path), "--db", db, "--workers", "1"])
    assert out.exit_code == 4, out.output
    (line,) = out.output.strip().splitlines()
    assert line.startswith("Error: database unavailable at sqlite:///")
