"""Usage errors end a command with one line and exit status 2, never a traceback: settings
that do not validate (from the environment or an option), before anything is scanned or
written; a path the system refuses; a manifest that lists nothing usable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from common.settings import Settings
from scheduler.cli import main


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("DFSCAN_")]:
        monkeypatch.delenv(var)


def test_a_bad_variable_is_named_with_its_value(clean_env: None, tmp_path: Path) -> None:
    env = {**os.environ, "DFSCAN_TIMEOUT_S": "-1", "DFSCAN_WORKERS": "many"}
    got = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "flagged"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert got.returncode == 2, got.stderr
    assert "Traceback" not in got.stderr
    lines = got.stderr.strip().splitlines()
    assert lines[0] == "Error: DFSCAN_TIMEOUT_S: Input should be greater than 0 (got '-1')"
    assert lines[1].startswith("DFSCAN_WORKERS: Input should be a valid integer")
    assert not (tmp_path / "dfscan.db").exists()


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (["--db", "results.db"], "database_url (option): not a database URL"),
        (["--frames", "0"], "frames_per_video (option): Input should be greater than or equal"),
    ],
)
def test_a_bad_option_is_checked_as_its_variable_would_be(
    clean_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    want: str,
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not read: the settings stop the command first")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    got = CliRunner().invoke(main, ["scan", str(clip), *args])
    assert got.exit_code == 2, got.output
    assert isinstance(got.exception, SystemExit)  # a usage error, not a crash
    assert want in got.output
    assert not list(here.iterdir())  # no database file made


def test_database_urls_are_checked_before_anything_connects() -> None:
    for url in ("sqlite:///dfscan.db", "sqlite://", "postgresql+psycopg://u@127.0.0.1/db"):
        assert Settings(database_url=url).database_url == url
    for slip in ("dfscan.db", "/srv/results.db", "127.0.0.1:5432/db"):
        with pytest.raises(ValueError, match="not a database URL"):
            Settings(database_url=slip)


def test_a_path_that_cannot_be_written_is_named(clean_env: None, tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("a file, so nothing can be made under it")
    got = CliRunner().invoke(main, ["sample", str(a_file / "s.mp4")])
    assert got.exit_code == 2 and isinstance(got.exception, SystemExit), got.output
    assert got.output.strip() == f"Error: cannot use {a_file / 's.mp4'}: Not a directory"
    # The review page of a batch that exists, asked for under that file.
    clip, db = tmp_path / "s.mp4", f"sqlite:///{tmp_path / 'r.db'}"
    assert CliRunner().invoke(main, ["sample", str(clip), "--frames", "8"]).exit_code == 0
    scan = ["scan", str(clip), "--frames", "4", "--workers", "1", "--db", db]
    assert CliRunner().invoke(main, scan).exit_code == 0
    got = CliRunner().invoke(
        main, ["report", "last", "--html", str(a_file / "page")], env={"DFSCAN_DATABASE_URL": db}
    )
    assert got.exit_code == 2 and isinstance(got.exception, SystemExit), got.output
    assert f"cannot use {a_file / 'page'}" in got.output


@pytest.mark.parametrize(
    ("rows", "want"),
    [
        ("", "no videos listed"),
        ("path,label\nclip.mp4,maybe\n", "m.csv:2: need path|url and label"),
        ("path,label\nnotes.txt,real\nnotes.txt,fake\n", "no training video could be read"),
    ],
)
def test_train_says_what_is_wrong_with_its_manifest(
    clean_env: None, tmp_path: Path, rows: str, want: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "m.csv").write_text(rows)
    args = ["train", "--manifest", str(tmp_path / "m.csv"), "--out", str(tmp_path / "model")]
    got = CliRunner().invoke(main, [*args, "--cache", str(tmp_path / "cache")])
    assert got.exit_code == 2 and isinstance(got.exception, SystemExit), got.output
    assert want in got.output
    assert not (tmp_path / "model").exists()
