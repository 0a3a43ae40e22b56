"""Scanner.scan records Celery's soft time limit as a timeout, not an internal error."""

from __future__ import annotations

import pytest
from celery.exceptions import SoftTimeLimitExceeded

import worker.pipeline
from common.settings import Settings
from models.bundle import load_bundle
from worker.pipeline import Scanner


def test_soft_time_limit_is_recorded_as_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_extract(*args: object, **kwargs: object) -> None:
        raise SoftTimeLimitExceeded()  # what Celery raises inside the task at the soft limit

    monkeypatch.setattr(worker.pipeline, "extract", slow_extract)
    result = Scanner(Settings(), load_bundle()).scan("clip.mp4")
    assert result.error is not None
    assert result.error["code"] == "timeout"
    assert result.score is None and result.label is None
