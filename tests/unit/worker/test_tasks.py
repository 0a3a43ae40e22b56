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
from common.db import (
    Scan,
    init_db,
    make_engine,
    session_factory,
    session_scope,
    upsert_scan,
    upsert_video,
)
from common.errors import FetchError
from common.settings import Settings
from common.types import ScanResult
from models.bundle import load_bundle
from models.scanner import Scanner
from worker import dry_run
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
    monkeypatch.setattr(worker.tasks, "_shared", {})

    def make_task(**overrides: object):  # type: ignore[no-untyped-def]
        settings = Settings(
            broker_url="redis://127.0.0.1:1/0", database_url=url, task_max_retries=2, **overrides
        )
        return make_app(settings).tasks[TASK_NAME]

    def rows() -> list[Scan]:
        with session_scope(session_factory(engine)) as s:
            return list(s.scalars(select(Scan)))

    yield make_task(), video_id, rows, make_task
    engine.dispose()


def _use(monkeypatch: pytest.MonkeyPatch, scanner: FakeScanner) -> None:
    monkeypatch.setattr(worker.tasks, "get_scanner", lambda settings: scanner)


def test_transient_errors_are_retried_until_the_scan_succeeds(task_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows, _ = task_env
    scanner = FakeScanner(failures=2)
    _use(monkeypatch, scanner)
    out = task.apply(args=[video_id, URL, "m1"]).get()
    assert scanner.calls == 3 and out["status"] == "done"
    (row,) = rows()
    assert (row.status, row.score, row.label, row.attempts) == ("done", 0.75, "fake", 1)


def test_a_persistent_transient_error_is_recorded_once_out_of_retries(
    task_env, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows, _ = task_env
    scanner = FakeScanner(failures=99)
    _use(monkeypatch, scanner)
    out = task.apply(args=[video_id, URL, "m1"]).get()
    assert scanner.calls == 3  # the first try and max_retries=2 retries, no more
    (row,) = rows()
    assert (row.status, row.error_code, row.attempts) == ("failed", "fetch_failed", 1)
    assert "gave up after 3 attempts" in row.error_message
    assert out["error"]["code"] == "fetch_failed"


def test_a_password_in_the_url_stays_out_of_the_log(task_env, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    task, video_id, _, _ = task_env
    _use(monkeypatch, FakeScanner(failures=1))
    with caplog.at_level("WARNING", logger="worker.tasks"):
        task.apply(args=[video_id, "https://alice:s3cret@example.test/v.mp4", "m1"]).get()
    assert "retrying https://alice:***@example.test/v.mp4 after fetch_failed" in caplog.text
    assert "s3cret" not in caplog.text


def test_model_mismatch_is_recorded_under_the_batch_version_without_scanning(
    task_env, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows, _ = task_env
    scanner = FakeScanner(failures=0)
    _use(monkeypatch, scanner)
    out = task.apply(args=[video_id, URL, "m2"]).get()
    assert scanner.calls == 0
    (row,) = rows()
    assert (row.model_version, row.status, row.error_code) == ("m2", "failed", "model_mismatch")
    assert row.error_message == "worker has model m1, batch wants m2"
    assert out["status"] == "failed"


def test_a_database_blip_is_retried_without_scanning_again(task_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows, _ = task_env
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


class DatabaseDown:
    """upsert_scan while the database is down until ``up_at`` on a fake clock that each retry
    advances by its countdown (eager retries do not wait), as a real outage would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, outage_s: float) -> None:
        self.now, self.countdowns = 1_000_000.0, []
        self.up_at = self.now + outage_s
        real_upsert, real_backoff = worker.tasks.upsert_scan, worker.tasks.db_backoff

        def upsert(session, vid, result):  # type: ignore[no-untyped-def]
            if self.now < self.up_at:
                raise OperationalError("INSERT", {}, Exception("connection refused"))
            real_upsert(session, vid, result)

        def backoff(tries: int) -> float:
            countdown = real_backoff(tries)
            self.countdowns.append(countdown)
            self.now += countdown
            return countdown

        monkeypatch.setattr(worker.tasks, "upsert_scan", upsert)
        monkeypatch.setattr(worker.tasks, "db_backoff", backoff)
        monkeypatch.setattr(worker.tasks.time, "time", lambda: self.now)


def test_a_five_minute_database_outage_loses_nothing(task_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    task, video_id, rows, _ = task_env
    scanner = FakeScanner(failures=0)
    _use(monkeypatch, scanner)
    db = DatabaseDown(monkeypatch, outage_s=6 * 60)
    out = task.apply(args=[video_id, URL, "m1"]).get()
    assert out["status"] == "done" and scanner.calls == 1  # scanned once, written later
    (row,) = rows()
    assert (row.status, row.score) == ("done", 0.75)
    # Exponential backoff, capped: waits double up to the cap and together span the outage.
    assert db.countdowns[0] <= worker.tasks.DB_BACKOFF_BASE_S
    assert max(db.countdowns) <= worker.tasks.DB_BACKOFF_CAP_S
    assert sum(db.countdowns) >= 6 * 60 and len(db.countdowns) < 40


def test_a_database_away_past_the_budget_fails_loudly(task_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, video_id, rows, make_task = task_env
    task = make_task(db_wait_s=120)
    _use(monkeypatch, FakeScanner(failures=0))
    db = DatabaseDown(monkeypatch, outage_s=10 * 60)
    with pytest.raises(worker.tasks.ResultNotStored, match="DFSCAN_DB_WAIT_S=120") as exc:
        task.apply(args=[video_id, URL, "m1"]).get()
    assert "dfscan recover" in str(exc.value)
    assert 120 <= sum(db.countdowns) < 120 + worker.tasks.DB_BACKOFF_CAP_S
    assert rows() == []  # nothing written: the pending row is the sweep's (worker.recovery)


def test_database_retries_leave_the_scan_retry_bound_alone(task_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Database retries run past the scan's max_retries (they are bounded by time); the next
    # task in the same process must still give up a transient scan error after max_retries.
    task, video_id, rows, _ = task_env
    _use(monkeypatch, FakeScanner(failures=0))
    DatabaseDown(monkeypatch, outage_s=60)
    task.apply(args=[video_id, URL, "m1"]).get()
    monkeypatch.setattr(worker.tasks, "upsert_scan", upsert_scan)
    scanner = FakeScanner(failures=99)
    _use(monkeypatch, scanner)
    out = task.apply(args=[video_id, URL, "m1"]).get()
    assert scanner.calls == 3 and out["error"]["code"] == "fetch_failed"


def test_db_backoff_is_exponential_capped_and_never_below_half() -> None:
    for tries in range(12):
        step = min(worker.tasks.DB_BACKOFF_CAP_S, worker.tasks.DB_BACKOFF_BASE_S * 2**tries)
        waits = [worker.tasks.db_backoff(tries) for _ in range(50)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 1  # jittered: retries after an outage do not arrive in step


def _interrupted(*args: object, **kwargs: object) -> None:
    raise SoftTimeLimitExceeded()  # what Celery raises inside the task at the soft limit


def test_soft_time_limit_is_recorded_as_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.scanner, "extract", _interrupted)
    monkeypatch.setattr(worker.tasks, "_shared", {})
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


def test_a_dry_run_worker_records_without_fetching_and_never_a_score(task_env) -> None:  # type: ignore[no-untyped-def]
    _, video_id, rows, make_task = task_env
    task = make_task(dry_run=True)
    # example.test does not resolve: a fetch would have been recorded as unreachable.
    out = task.apply(args=[video_id, URL, dry_run.VERSION]).get()
    assert out["status"] == "failed" and out["score"] is None
    (row,) = rows()
    assert (row.model_version, row.status, row.error_code) == (dry_run.VERSION, "failed", "dry_run")
    assert (row.score, row.label, row.families) == (None, None, {})
    assert "dry run" in row.error_message
    assert isinstance(worker.tasks.get_scanner(Settings()), dry_run.DryRunScanner)


def test_a_real_task_at_a_dry_run_worker_is_a_mismatch_not_a_score(task_env) -> None:  # type: ignore[no-untyped-def]
    _, video_id, rows, make_task = task_env
    make_task(dry_run=True).apply(args=[video_id, URL, "real-1"]).get()
    (row,) = rows()
    assert (row.model_version, row.error_code, row.score) == ("real-1", "model_mismatch", None)


def test_a_dry_run_applies_the_workers_target_policy(task_env) -> None:  # type: ignore[no-untyped-def]
    _, video_id, rows, make_task = task_env
    make_task(dry_run=True).apply(args=[video_id, "/etc/passwd", dry_run.VERSION]).get()
    (row,) = rows()
    assert (row.status, row.error_code) == ("failed", "blocked_path")
