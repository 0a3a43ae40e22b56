"""A front end's time limit is recorded as a timeout, not an internal error."""

from __future__ import annotations

import pytest
from celery.exceptions import SoftTimeLimitExceeded

import models.scanner
import worker.tasks
from common.settings import Settings
from models.bundle import load_bundle
from models.scanner import Scanner


def _interrupted(*args: object, **kwargs: object) -> None:
    raise SoftTimeLimitExceeded()  # what Celery raises inside the task at the soft limit


def test_soft_time_limit_is_recorded_as_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.scanner, "extract", _interrupted)
    monkeypatch.setattr(worker.tasks, "_state", {})
    # The worker's scanner names Celery's exception; the scanner itself imports no Celery.
    result = worker.tasks.get_scanner(Settings()).scan("clip.mp4")
    assert result.error is not None
    assert result.error["code"] == "timeout"
    assert result.score is None and result.label is None


def test_without_timeouts_an_interruption_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(models.scanner, "extract", _interrupted)
    result = Scanner(Settings(), load_bundle()).scan("clip.mp4")
    assert result.error is not None and result.error["code"] == "internal_error"
