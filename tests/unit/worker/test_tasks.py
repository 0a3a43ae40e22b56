"""The scan task, run eagerly by Celery itself (retries included) against a SQLite file.

No broker: ``Task.apply`` runs the task in this process and replays Celery's own retries
(autoretry_for, max_retries), so what is checked is the task as registered on the app.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import models.scanner
import worker.tasks
from common.db import Scan, init_db, make_engine, session_factory, session_scope, upsert_video
from common.errors import FetchError
from common.settings import Settings
from common.types import ScanResult
from models.bundle import load_bundle
from models.scanner import Scanner
from worker.celery_app import make_app
from worker.tasks import TASK_NAME

URL = "http://example.test/clip.mp4"


class FakeScanner:
    """Fails with a retryable error ``failures`` times, then scores."""

    model_version = "m1"

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def scan(self, url: str, *, raise_retryable: bool = False) -> ScanResult:
        self.calls += 1
        assert raise_retryable, "the task must ask for retryable errors"
        if self.calls <= self.failures:
            raise FetchError("connection reset")
        return ScanResult(target=url, score=0.75, label="fake", model_version="m1")


@pytest.fixture
def task_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    engine = make_engine(url)
    init_db(engine)
    with session_scope(session_factory(engine)) as s:
        video_id = upsert_video(s, URL)
    monkeypatch.setattr(worker.tasks, "_state", {})
    settings = Settings(broker_url="redis://127.0.0.1:1/0", database_url=url, task_max_retries=2)
    task = make_app(settings).tasks[TASK_NAME]

    def rows() -> list[Scan]:
        with session_scope(session_factory(engine)) as s:
            return list(s.scalars(select(Scan)))

    yield task, video_id, rows
    engine.dispose()


def _use(monkeypatch: pytest.MonkeyPatch, scanner: FakeScanner) -> None:
    monkeypatch.setattr(worker.tasks, "get_scanner", lambda settings: scanner)


def test_transient_errors_are_retried_until_the_scan_succeeds(task_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows = task_env
    scanner = FakeScanner(failures=2)
    _use(monkeypatch, scanner)
    out = task.apply(args=[video_id, URL, "m1"]).get()
    assert scanner.calls == 3 and out["status"] == "done"
    (row,) = rows()
    assert (row.status, row.score, row.label, row.attempts) == ("done", 0.75, "fake", 1)


def test_a_persistent_transient_error_is_recorded_once_out_of_retries(
    task_env, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows = task_env
    scanner = FakeScanner(failures=99)
    _use(monkeypatch, scanner)
    out = task.apply(args=[video_id, URL, "m1"]).get()
    assert scanner.calls == 3  # the first try and max_retries=2 retries, no more
    (row,) = rows()
    assert (row.status, row.error_code, row.attempts) == ("failed", "fetch_failed", 1)
    assert "gave up after 3 attempts" in row.error_message
    assert out["error"]["code"] == "fetch_failed"


def test_model_mismatch_is_recorded_under_the_batch_version_without_scanning(
    task_env, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows = task_env
    scanner = FakeScanner(failures=0)
    _use(monkeypatch, scanner)
    out = task.apply(args=[video_id, URL, "m2"]).get()
    assert scanner.calls == 0
    (row,) = rows()
    assert (row.model_version, row.status, row.error_code) == ("m2", "failed", "model_mismatch")
    assert row.error_message == "worker has model m1, batch wants m2"
    assert out["status"] == "failed"


def test_a_database_blip_is_retried_without_scanning_again(task_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows = task_env
    scanner = FakeScanner(failures=0)
    _use(monkeypatch, scanner)
    real_upsert, blips = worker.tasks.upsert_scan, []

    def flaky_upsert(session, vid, result):  # type: ignore[no-untyped-def]
        if not blips:
            blips.append(1)
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        real_upsert(session, vid, result)

    monkeypatch.setattr(worker.tasks, "upsert_scan", flaky_upsert)
    task.apply(args=[video_id, URL, "m1"]).get()
    assert scanner.calls == 1  # the retry carried the finished result
    (row,) = rows()
    assert (row.status, row.score) == ("done", 0.75)


def _interrupted(*args: object, **kwargs: object) -> None:
    raise SoftTimeLimitExceeded()  # what Celery raises inside the task at the soft limit


def test_soft_time_limit_is_recorded_as_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.scanner, "extract", _interrupted)
    monkeypatch.setattr(worker.tasks, "_state", {})
    # The worker's scanner names Celery's exception; the scanner itself imports no Celery.
    result = worker.tasks.get_scanner(Settings()).scan(URL)
    assert result.error is not None
    assert result.error["code"] == "timeout"
    assert result.score is None and result.label is None


def test_without_timeouts_an_interruption_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(models.scanner, "extract", _interrupted)
    result = Scanner(Settings(), load_bundle()).scan(URL)
    assert result.error is not None and result.error["code"] == "internal_error"
