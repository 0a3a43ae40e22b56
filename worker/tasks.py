"""The one Celery task: scan a video by URL and upsert its result.

Thin on purpose: the scan is the same ``Scanner.scan`` the embedded mode runs. The task only
adds the transport concerns: the model loaded once per process, bounded retries with
backoff for transient errors, and a single recorded row for everything else.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from common.db import make_engine, session_factory, session_scope, upsert_scan
from common.errors import ScanError
from common.settings import Settings
from common.types import ScanResult
from worker.celery_app import TASK_NAME

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0

# Per-process state. Built lazily in each pool process (never inherited across fork: a DB
# connection or a decoder shared by two processes corrupts both).
_state: dict[str, Any] = {}


def _process_state() -> dict[str, Any]:
    if _state.get("pid") != os.getpid():
        _state.clear()
        _state["pid"] = os.getpid()
    return _state


def get_scanner(settings: Settings):  # type: ignore[no-untyped-def]
    """The process's Scanner; the model is loaded on first use and kept."""
    state = _process_state()
    if "scanner" not in state:
        from worker.pipeline import Scanner  # heavy imports (OpenCV, dlib) only in workers

        state["scanner"] = Scanner(settings)
        log.info("model %s loaded in process %d", state["scanner"].model_version, os.getpid())
    return state["scanner"]


def get_sessions(settings: Settings) -> sessionmaker[Session]:
    state = _process_state()
    if "sessions" not in state:
        state["sessions"] = session_factory(make_engine(settings.database_url))
    return state["sessions"]


def backoff(retries: int) -> float:
    """Exponential backoff with jitter, so retries after an outage do not arrive in step."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**retries) * random.uniform(0.5, 1.0)


def _failed(url: str, model_version: str, code: str, message: str) -> ScanResult:
    error = {"code": code, "message": message}
    return ScanResult(target=url, model_version=model_version, error=error)


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
    except SoftTimeLimitExceeded:
        return _failed(url, scanner.model_version, "timeout", "scan exceeded the task time limit")
    except ScanError as exc:  # only retryable errors escape the scanner
        if task.request.retries < settings.task_max_retries:
            log.warning("retrying %s after %s (%s)", url, exc.code, exc.message)
            raise task.retry(exc=exc, countdown=backoff(task.request.retries)) from exc
        # Out of retries: a transient error that persisted is recorded like a permanent one.
        attempts = task.request.retries + 1
        message = f"{exc.message} (gave up after {attempts} attempts)"
        return _failed(url, scanner.model_version, exc.code, message)


def _store(task: Task, settings: Settings, video_id: int, result: ScanResult) -> None:
    try:
        with session_scope(get_sessions(settings)) as session:
            upsert_scan(session, video_id, result)
    except OperationalError as exc:
        if task.request.retries >= settings.task_max_retries:
            raise  # the database stays down: nothing can be recorded, fail loudly
        log.warning("database unavailable, retrying video %s: %s", video_id, exc)
        # Carry the finished result so a database blip does not cost another scan.
        kwargs = dict(task.request.kwargs or {}, result=result.as_json())
        raise task.retry(exc=exc, kwargs=kwargs, countdown=backoff(task.request.retries)) from exc


def scan_video(
    task: Task,
    video_id: int,
    url: str,
    model_version: str | None = None,
    result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Scan ``url`` and upsert the result for ``video_id``; returns a short summary."""
    settings: Settings = task.app.dfscan_settings  # type: ignore[attr-defined]
    scanned = ScanResult(**result) if result else _scan(task, settings, url, model_version)
    _store(task, settings, video_id, scanned)
    return {
        "video_id": video_id,
        "status": "failed" if scanned.error else "done",
        "score": scanned.score,
        "label": scanned.label,
        "error": scanned.error,
    }


def register(app: Celery) -> Task:
    """Register the task on ``app`` and load the model as each pool process starts."""
    settings: Settings = app.dfscan_settings  # type: ignore[attr-defined]

    @worker_process_init.connect(weak=False)
    def _warm_up(**_: object) -> None:
        try:
            get_scanner(settings)
        except Exception:  # a broken model must show in the task's error, not kill the pool
            log.exception("could not load the model at process start")

    # max_retries=None: the bound is settings.task_max_retries, enforced in the task body
    # so that exhausting it records a row instead of raising.
    return app.task(bind=True, name=TASK_NAME, max_retries=None)(scan_video)
