"""Settings handed to a child process through DFSCAN_* variables come back equal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.settings import Settings, as_environment


def test_settings_survive_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    given = Settings(
        broker_url="redis://127.0.0.1:6379/3",
        database_url="postgresql+psycopg://u@127.0.0.1/bench",
        threshold=0.25,
        allow_private_hosts=["127.0.0.1", "10.0.0.0/8"],
        local_root=Path("/srv/videos"),
        dry_run=True,
        workers=3,
        sampling="segments",
    )
    env = as_environment(given)
    assert "DFSCAN_MODEL_PATH" not in env  # unset stays unset
    for key in [k for k in os.environ if k.startswith("DFSCAN_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == given
