"""The one Celery task: scan a video by URL and upsert its result.

Thin on purpose: the scan is the same :class:`models.scanner.Scanner` the embedded mode runs.
The task only adds the transport concerns: the model loaded once, by the worker's main
process before it forks its pool (so the pool processes share its pages), retries of
transient errors bounded and spaced by Celery's own options (``autoretry_for``,
``retry_backoff``, ``retry_jitter``, ``max_retries``), and a single recorded row for
everything else.

The task is acknowledged only once its row is written (``acks_late``). While the database is
away, the finished result waits for it: the task goes back to the queue through Celery's
``retry`` carrying the result in its arguments (so the video is not scanned again), spaced by
exponential backoff, for up to ``DFSCAN_DB_WAIT_S``. Past that the task fails loudly and its
row stays ``pending``, where the recovery sweep (``worker.recovery``) finds it.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import time
from typing import Any

from celery import Celery, Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from celery.signals import celeryd_after_setup, worker_process_init
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from common.db import make_engine, session_factory, session_scope, upsert_scan
from common.errors import ScanError
from common.media import redacted_url
from common.settings import Settings
from common.types import ScanResult
from worker import dry_run

log = logging.getLogger(__name__)

TASK_NAME = "dfscan.scan_video"
# Countdown before retry k (from 0): a random share (full jitter, so retries after an
# outage do not arrive in step) of min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**k).
BACKOFF_BASE_S = 2
BACKOFF_CAP_S = 300
# A result waiting for the database is retried after a countdown doubling from
# DB_BACKOFF_BASE_S up to DB_BACKOFF_CAP_S: short enough that writes resume within half a
# minute of the database's return, long enough not to hammer it while it restarts.
DB_BACKOFF_BASE_S = 1
DB_BACKOFF_CAP_S = 30
# The database is unreachable or dropped the connection (psycopg and sqlite3 both map here).
DB_UNAVAILABLE = (OperationalError, InterfaceError)

# The scanner (model bundle, scikit-learn, dlib's detector and landmark model): read-only
# once loaded, so the pool processes may share it. The worker's main process loads it
# before it forks the pool (celeryd_after_setup), and the pool processes share its pages.
_shared: dict[str, Any] = {}
# Per-process state. Built lazily in each pool process (never inherited across fork: a DB
# connection shared by two processes corrupts both).
_state: dict[str, Any] = {}


def _process_state() -> dict[str, Any]:
    if _state.get("pid") != os.getpid():
        _state.clear()
        _state["pid"] = os.getpid()
    return _state


def get_scanner(settings: Settings):  # type: ignore[no-untyped-def]
    """The Scanner, loaded by the worker's main process before the fork, or else on first
    use (a pool that does not fork, a load that failed there)."""
    if "scanner" not in _shared:
        _shared["scanner"] = _load_scanner(settings)
    return _shared["scanner"]


def _load_scanner(settings: Settings):  # type: ignore[no-untyped-def]
    if settings.dry_run:
        log.warning("DRY RUN: this worker fetches and scans nothing (%s)", dry_run.MESSAGE)
        return dry_run.DryRunScanner(settings)
    from models.scanner import pool_scanner  # heavy imports (OpenCV, dlib): workers only

    # Celery's soft time limit interrupts the scan; the scanner records it as a timeout.
    scanner = pool_scanner(settings, timeouts=(SoftTimeLimitExceeded,))
    log.info("model %s loaded in process %d", scanner.model_version, os.getpid())
    return scanner


def get_sessions(settings: Settings) -> sessionmaker[Session]:
    state = _process_state()
    if "sessions" not in state:
        state["sessions"] = session_factory(make_engine(settings.database_url))
    return state["sessions"]


def _failed(url: str, model_version: str, code: str, message: str) -> ScanResult:
    error = {"code": code, "message": message}
    return ScanResult(target=url, model_version=model_version, error=error)


def _last_try(task: Task) -> bool:
    return task.request.retries >= task.max_retries


def _scan(task: Task, settings: Settings, url: str, model_version: str | None) -> ScanResult:
    scanner = get_scanner(settings)
    if model_version and model_version != scanner.model_version:
        # Recorded under the batch's version so the batch completes and the mismatch shows.
        return _failed(
            url,
            model_version,
            "model_mismatch",
            f"worker has model {scanner.model_version}, batch wants {model_version}",
        )
    try:
        return scanner.scan(url, raise_retryable=True)
    except ScanError as exc:  # only retryable errors escape the scanner
        if not _last_try(task):
            log.warning("retrying %s after %s (%s)", redacted_url(url), exc.code, exc.message)
            raise  # autoretry_for: Celery schedules the retry
        # Out of retries: a transient error that persisted is recorded like a permanent one.
        attempts = task.request.retries + 1
        message = f"{exc.message} (gave up after {attempts} attempts)"
        return _failed(url, scanner.model_version, exc.code, message)


class ResultNotStored(RuntimeError):
    """The database stayed away longer than DFSCAN_DB_WAIT_S: the result is given up."""


def db_backoff(tries: int) -> float:
    """Countdown before write retry ``tries`` (from 0): min(cap, base x 2^tries), of which
    half is fixed and half random, so a wait is never shorter than half the step (the
    budget is spent over time, not in a burst) and retries after an outage spread out."""
    step = min(DB_BACKOFF_CAP_S, DB_BACKOFF_BASE_S * 2**tries)
    return step / 2 + random.uniform(0, step / 2)


def _store(settings: Settings, video_id: int, result: ScanResult) -> None:
    with session_scope(get_sessions(settings)) as session:
        upsert_scan(session, video_id, result)


def _wait_for_database(
    task: Task,
    settings: Settings,
    video_id: int,
    result: ScanResult,
    exc: Exception,
    *,
    since: float | None,
    tries: int,
) -> Retry:
    """Send the task back to the queue with its finished result, to be written later.

    ``since`` (when the first write failed) and ``tries`` travel in the task's kwargs, so the
    budget holds whichever worker takes the retry. Out of budget: :class:`ResultNotStored`.
    """
    since = since or time.time()
    waited = time.time() - since
    if waited >= settings.db_wait_s:
        raise ResultNotStored(
            f"video {video_id}: the database was unavailable for {waited:.0f} s "
            f"(DFSCAN_DB_WAIT_S={settings.db_wait_s:.0f}); the result is dropped and the row "
            f"stays pending until the recovery sweep (dfscan recover) sends it again: {exc}"
        ) from exc
    countdown = db_backoff(tries)
    log.warning(
        "database unavailable, video %s waits %.1f s with its result (try %d, %.0f s so far): %s",
        video_id,
        countdown,
        tries + 1,
        waited,
        exc,
    )
    kwargs = dict(task.request.kwargs or {}, result=result.as_json())
    kwargs.update(db_since=since, db_tries=tries + 1)
    try:
        # Past the scan's max_retries: these retries are bounded by time (DFSCAN_DB_WAIT_S).
        return task.retry(
            kwargs=kwargs,
            countdown=countdown,
            exc=exc,
            max_retries=task.request.retries + 1,
            throw=False,
        )
    finally:
        # retry() keeps that override on the task object, shared by the process's next
        # tasks, whose autoretry would apply it to their scan retries.
        task.__dict__.pop("override_max_retries", None)


def register(app: Celery, settings: Settings) -> Task:
    """Register the task on ``app`` with ``settings``, and load the model in the worker's
    main process before its pool forks."""

    @celeryd_after_setup.connect(weak=False)
    def _load_before_fork(instance: object = None, **_: object) -> None:
        """In the worker's main process, once its logging is set up and before its pool
        starts: the pool processes then share the model's pages and start at once (so do the
        forked replacements of one that died)."""
        if getattr(instance, "app", None) is not app:
            return
        try:
            get_scanner(settings).warm_up()
        except Exception:  # a broken model must show in the task's error, not kill the pool
            log.exception("could not load the model before starting the pool")
            return
        # The collector then leaves the shared objects alone: it would write to their
        # headers, and so copy their pages into every pool process.
        gc.freeze()

    @worker_process_init.connect(weak=False)
    def _per_process(**_: object) -> None:
        """Per-process state only; the model comes loaded from the main process. A pool
        process that did not get it (its load failed there) tries once more here."""
        try:
            get_scanner(settings)
        except Exception:
            log.exception("could not load the model at process start")

    @app.task(
        bind=True,
        name=TASK_NAME,
        # Not shared: Celery would add a shared task, with the settings it closes over, to
        # every app created later in the process.
        shared=False,
        autoretry_for=(ScanError,),
        max_retries=settings.task_max_retries,
        retry_backoff=BACKOFF_BASE_S,
        retry_backoff_max=BACKOFF_CAP_S,
        retry_jitter=True,
    )
    def scan_video(
        task: Task,
        video_id: int,
        url: str,
        model_version: str | None = None,
        result: dict[str, Any] | None = None,
        db_since: float | None = None,
        db_tries: int = 0,
    ) -> dict[str, Any]:
        """Scan ``url`` and upsert the result for ``video_id``; returns a short summary.

        ``result``, ``db_since`` and ``db_tries`` are set only by the task itself when it
        waits for the database (see :func:`_wait_for_database`).
        """
        scanned = ScanResult(**result) if result else _scan(task, settings, url, model_version)
        try:
            _store(settings, video_id, scanned)
        except DB_UNAVAILABLE as exc:
            raise _wait_for_database(
                task, settings, video_id, scanned, exc, since=db_since, tries=db_tries
            ) from exc
        return {
            "video_id": video_id,
            "status": "failed" if scanned.error else "done",
            "score": scanned.score,
            "label": scanned.label,
            "error": scanned.error,
        }

    return scan_video
