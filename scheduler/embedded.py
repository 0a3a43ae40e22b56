"""Embedded mode: scan on the local cores, store results in the local database.

No servers: a process pool runs the same :class:`models.scanner.Scanner` the Celery workers
run, and results go through the same schema (a SQLite file by default). Each result is
written as soon as it arrives, so an interrupted run keeps everything already scanned.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

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
from common.media import is_remote
from common.settings import Settings
from common.types import ScanResult

_SCANNER = None


def _init_worker(settings: Settings) -> None:
    import cv2

    from models.scanner import Scanner

    # One process per core already; OpenCV's own threads would only oversubscribe.
    cv2.setNumThreads(1)
    global _SCANNER
    _SCANNER = Scanner(settings, local_files=True)  # the user names their own files


def _scan(target: str) -> ScanResult:
    assert _SCANNER is not None
    return _SCANNER.scan(target)


def _stored_url(target: str) -> str:
    return target if is_remote(target) else str(Path(target).resolve())


def _results(targets: Sequence[str], settings: Settings) -> Iterator[ScanResult]:
    workers = max(1, min(settings.workers, len(targets)))
    if workers == 1:
        _init_worker(settings)
        yield from map(_scan, targets)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # fork after OpenCV/BLAS threads exist can deadlock
    with ProcessPoolExecutor(workers, ctx, initializer=_init_worker, initargs=(settings,)) as pool:
        yield from pool.map(_scan, targets)


def run_embedded(
    targets: Sequence[str],
    settings: Settings,
    *,
    on_result: Callable[[ScanResult], None] | None = None,
) -> list[ScanResult]:
    """Scan ``targets`` in input order, writing each result to the database as it lands."""
    engine = make_engine(settings.database_url)
    init_db(engine)
    factory = session_factory(engine)
    results: list[ScanResult] = []
    batch_id: int | None = None
    for result in _results(targets, settings):
        with session_scope(factory) as s:
            if batch_id is None:
                batch = Batch(
                    name=f"scan {datetime.now(UTC):%Y-%m-%d %H:%M:%S}",
                    source=f"embedded pid {os.getpid()}",
                    model_version=result.model_version or "",
                    total=len(targets),
                )
                s.add(batch)
                s.flush()
                batch_id = batch.id
            vid = upsert_video(s, _stored_url(result.target))
            s.merge(BatchItem(batch_id=batch_id, video_id=vid))
            upsert_scan(s, vid, result)
        results.append(result)
        if on_result is not None:
            on_result(result)
    engine.dispose()
    return results
