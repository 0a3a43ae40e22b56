"""Embedded mode: scan on the local cores, store results in the local database.

No servers: a process pool runs the same :class:`models.scanner.Scanner` the Celery workers
run, and results go through the same schema (a SQLite file by default). Each result is
written as soon as it arrives, so an interrupted run keeps everything already scanned.
Every target gets one result: a target refused while expanding (scheduler.targets.Refused)
is recorded with its error, and one whose result cannot be written is recorded, if at all
possible, as an ``internal_error`` saying why; the run goes on either way.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from common.db import (
    Batch,
    BatchItem,
    init_db,
    make_engine,
    session_factory,
    session_scope,
    upsert_scan,
    upsert_video,
)
from common.errors import internal_error, utf8_safe
from common.media import is_remote
from common.settings import Settings
from common.types import ScanResult
from scheduler.targets import Refused, Target

log = logging.getLogger(__name__)

EMBEDDED_SOURCE = "embedded pid"  # how a batch of this mode is recorded (batches.source)

_SCANNER = None


def _init_worker(settings: Settings) -> None:
    from models.scanner import pool_scanner

    global _SCANNER
    _SCANNER = pool_scanner(settings, local_files=True)  # the user names their own files


def _scan(target: Target) -> ScanResult:
    assert _SCANNER is not None
    if isinstance(target, Refused):
        return target.result(_SCANNER.model_version)
    return _SCANNER.scan(target)


def _stored_url(target: Target) -> str:
    """How the database names a target: URLs as given, paths absolute with symlinks resolved
    (never raising: realpath stops at a loop), stray bytes of a name escaped."""
    text = target.target if isinstance(target, Refused) else target
    return utf8_safe(text if is_remote(text) else os.path.realpath(text))


def _results(targets: Sequence[Target], settings: Settings) -> Iterator[ScanResult]:
    workers = max(1, min(settings.workers, len(targets)))
    if workers == 1:
        _init_worker(settings)
        yield from map(_scan, targets)
        return
    import multiprocessing as mp

    if not _fork_safe():
        spawn = mp.get_context("spawn")
        with ProcessPoolExecutor(workers, spawn, _init_worker, (settings,)) as pool:
            yield from pool.map(_scan, targets)
        return
    # The model, scikit-learn and dlib's landmark model are loaded once, here, and a first
    # scan sets up what scans set up lazily: the forked workers share these pages instead of
    # each loading a copy (~2.5 CPU-s and ~200 MB each), and start scanning at full speed.
    _init_worker(settings)
    assert _SCANNER is not None
    _SCANNER.warm_up()
    # Frozen objects are left alone by the collector, in the workers too: it would otherwise
    # write to every shared object's header and so copy its page into each worker.
    gc.freeze()
    try:
        with ProcessPoolExecutor(workers, mp.get_context("fork")) as pool:
            yield from pool.map(_scan, targets)
    finally:
        gc.unfreeze()


def _fork_safe() -> bool:
    """Whether this process may fork its workers: on a system that forks, with no other
    Python thread running (a lock such a thread holds at the fork stays held for good in the
    child). Native threads that exist by now (OpenBLAS's) are shut down around a fork by
    their library. Otherwise each worker starts a fresh interpreter and loads its own copy."""
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


def run_embedded(
    targets: Sequence[Target],
    settings: Settings,
    *,
    on_result: Callable[[ScanResult], None] | None = None,
) -> list[ScanResult]:
    """Scan ``targets`` in input order, writing each result to the database as it lands."""
    engine = make_engine(settings.database_url)
    init_db(engine)
    factory = session_factory(engine)
    results: list[ScanResult] = []
    batch: list[int] = []  # the batch's id, once its first result created it
    for target, result in zip(targets, _results(targets, settings), strict=True):
        try:
            _record(factory, batch, len(targets), _stored_url(target), result)
        except Exception as exc:  # this target's row, not the run
            log.exception("could not record the result for %s", result.target)
            result.error = internal_error(exc).as_dict()
            result.score = result.label = None
            try:
                _record(factory, batch, len(targets), _stored_url(target), result)
            except Exception:
                log.exception("could not record the failure either for %s", result.target)
        results.append(result)
        if on_result is not None:
            on_result(result)
    engine.dispose()
    return results


def _record(
    factory: sessionmaker[Session], batch: list[int], total: int, url: str, result: ScanResult
) -> None:
    with session_scope(factory) as s:
        if not batch:
            row = Batch(
                name=f"scan {datetime.now(UTC):%Y-%m-%d %H:%M:%S}",
                source=f"{EMBEDDED_SOURCE} {os.getpid()}",
                model_version=result.model_version or "",
                total=total,
            )
            s.add(row)
            s.flush()
            batch.append(row.id)
        vid = upsert_video(s, url)
        s.merge(BatchItem(batch_id=batch[0], video_id=vid))
        upsert_scan(s, vid, result)
