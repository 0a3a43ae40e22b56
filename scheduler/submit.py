"""Submit a list of videos as a batch: record them, then enqueue one task per video.

Lists of millions of lines are streamed: entries are read lazily and handled in chunks, each
chunk one transaction (videos, batch items, pending scan rows) followed by its tasks. The
rows are committed before the tasks are sent, so a worker always finds its video; a crash
between the two leaves pending rows that ``--resend-pending`` sends again.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from common.db import (
    Batch,
    BatchItem,
    Scan,
    Video,
    dialect_insert,
    session_scope,
    url_hash,
    utcnow,
)
from common.settings import Settings
from scheduler.lists import Entry, parse_txt, read_list

log = logging.getLogger(__name__)

CHUNK = 500


class Sender(Protocol):
    """What submit needs of a Celery app (``Celery.send_task`` fits)."""

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any: ...


@dataclass(slots=True)
class SubmitSummary:
    batch_id: int
    model_version: str
    total: int = 0
    enqueued: int = 0
    skipped: int = 0
    invalid: int = 0


def _list_s3(uri: str, settings: Settings) -> Iterator[Entry]:
    """Every object under s3://bucket/prefix, page by page."""
    from common.media import s3_client

    parts = urlsplit(uri)
    pages = (
        s3_client(settings)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=parts.netloc, Prefix=parts.path.lstrip("/"))
    )
    for page in pages:
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                yield Entry(f"s3://{parts.netloc}/{obj['Key']}")


def read_entries(source: str, settings: Settings) -> Iterator[Entry | ValueError]:
    """Entries of a list file (scheduler.lists; '-' = stdin, as txt) or an S3 prefix.

    Bad rows come through as ValueError so the caller can count them and go on.
    """
    if source.startswith("s3://"):
        yield from _list_s3(source, settings)
        return
    if source == "-":
        yield from parse_txt(sys.stdin)
        return
    yield from read_list(Path(source))


def _upsert_videos(session: Session, entries: list[Entry]) -> dict[str, int]:
    """Insert new videos in one statement; return url_hash -> video id for the chunk."""
    by_hash = {url_hash(e.url): e for e in entries}  # one row per video within a statement
    insert = dialect_insert(session)
    stmt = insert(Video).values(
        [
            {
                "url": e.url,
                "url_hash": h,
                "label": e.label,
                "external_id": e.external_id,
                "created_at": utcnow(),
            }
            for h, e in by_hash.items()
        ]
    )
    # A label given now wins; a list without labels keeps the stored ground truth.
    stmt = stmt.on_conflict_do_update(
        index_elements=["url_hash"],
        set_={
            "label": func.coalesce(stmt.excluded.label, Video.label),
            "external_id": func.coalesce(stmt.excluded.external_id, Video.external_id),
        },
    )
    session.execute(stmt)
    rows = session.execute(select(Video.url_hash, Video.id).where(Video.url_hash.in_(by_hash)))
    return {h: vid for h, vid in rows}


def _mark_pending(session: Session, video_ids: list[int], model_version: str, reset: bool) -> None:
    insert = dialect_insert(session)
    stmt = insert(Scan).values(
        [
            {
                "video_id": v,
                "model_version": model_version,
                "status": "pending",
                "attempts": 0,
                "families": {},
                "timings": {},
                "updated_at": utcnow(),
            }
            for v in video_ids
        ]
    )
    if reset:  # a rescan: finished rows go back to pending until the new result lands
        stmt = stmt.on_conflict_do_update(
            index_elements=["video_id", "model_version"],
            set_={"status": "pending", "updated_at": stmt.excluded.updated_at},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["video_id", "model_version"])
    session.execute(stmt)


def _record_chunk(
    session: Session,
    batch_id: int,
    entries: list[Entry],
    model_version: str,
    skip: tuple[str, ...],
) -> list[tuple[int, str]]:
    """Record one chunk; return the (video id, url) pairs to enqueue.

    Videos whose scan row for this model has a status in ``skip`` are not enqueued.
    """
    ids = _upsert_videos(session, entries)
    # RETURNING gives only the items new to this batch: a URL repeated further down a list
    # (in another chunk) is enqueued once, even with --rescan.
    new_items = set(
        session.scalars(
            dialect_insert(session)(BatchItem)
            .values([{"batch_id": batch_id, "video_id": v} for v in set(ids.values())])
            .on_conflict_do_nothing()
            .returning(BatchItem.video_id)
        )
    )
    seen = set()
    if skip and new_items:
        seen = set(
            session.scalars(
                select(Scan.video_id).where(
                    Scan.video_id.in_(new_items),
                    Scan.model_version == model_version,
                    Scan.status.in_(skip),
                )
            )
        )
    todo: dict[int, str] = {}
    for e in entries:
        vid = ids[url_hash(e.url)]
        if vid in new_items and vid not in seen:
            todo.setdefault(vid, e.url)
    if todo:
        _mark_pending(session, list(todo), model_version, reset=not skip)
    return list(todo.items())


def _chunks(
    entries: Iterable[Entry | ValueError], size: int, summary: SubmitSummary
) -> Iterator[list[Entry]]:
    it = iter(entries)
    while True:
        raw = list(islice(it, size))
        if not raw:
            return
        good = [e for e in raw if isinstance(e, Entry)]
        for bad in raw:
            if isinstance(bad, ValueError):
                summary.invalid += 1
                log.warning("skipping a list entry: %s", bad)
        if good:
            yield good


def submit(
    entries: Iterable[Entry | ValueError],
    *,
    sessions: sessionmaker[Session],
    sender: Sender,
    task_name: str,
    model_version: str,
    name: str = "",
    source: str = "",
    rescan: bool = False,
    resend_pending: bool = False,
    chunk_size: int = CHUNK,
    queue: str | None = None,
) -> SubmitSummary:
    """Record ``entries`` as a new batch and enqueue the videos not yet scanned by this model.

    ``rescan`` enqueues every video again; ``resend_pending`` also those still pending (their
    tasks were lost, e.g. with a wiped broker), but not the finished ones.
    """
    skip: tuple[str, ...] = (
        () if rescan else ("done", "failed") if resend_pending else ("done", "failed", "pending")
    )
    with session_scope(sessions) as session:
        batch = Batch(name=name, source=source, model_version=model_version, total=0)
        session.add(batch)
        session.flush()
        summary = SubmitSummary(batch_id=batch.id, model_version=model_version)
    for chunk in _chunks(entries, chunk_size, summary):
        with session_scope(sessions) as session:
            todo = _record_chunk(session, summary.batch_id, chunk, model_version, skip)
        for video_id, url in todo:
            sender.send_task(task_name, args=[video_id, url, model_version], queue=queue)
        summary.total += len(chunk)
        summary.enqueued += len(todo)
    with session_scope(sessions) as session:
        batch = session.get(Batch, summary.batch_id)
        batch.total = session.scalar(
            select(func.count()).select_from(BatchItem).where(BatchItem.batch_id == batch.id)
        )
    summary.skipped = summary.total - summary.enqueued
    return summary
