"""Settings that do not validate, from the environment or an option, stop a command with one
line per bad setting and exit status 2, before anything is scanned or written: never a
traceback."""

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
