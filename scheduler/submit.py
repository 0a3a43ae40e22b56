"""Submit a list of videos as a batch: validate it whole, record it, then enqueue.

Atomic in three steps, each finished before the next starts:

1. Read and check the whole list (``scheduler.lists``: encoding, columns, rows; then every
   target against the workers' policy, ``common.target_policy``). The first problem raises
   :class:`scheduler.lists.ListError` naming the file, the line and the reason, and nothing
   is recorded or enqueued. The checked entries go to a temporary spool file, so lists of
   millions of lines (and standard input, or an S3 listing, which cannot be read twice)
   are held on disk, not in memory.
2. One transaction: the batch, its videos, batch items and pending scan rows, in chunks.
   The videos to enqueue go to a second spool.
3. Enqueue one task per video. The rows were committed first, so a worker always finds its
   video; a broker lost during this step leaves pending rows that ``--resend-pending`` (or
   the recovery sweep) sends again, and :class:`EnqueueFailed` says how far it got.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, Protocol
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
from common.errors import ScanError
from common.settings import Settings
from common.target_policy import check_worker_target
from scheduler.lists import Entry, ListError, parse_list, read_list

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


class EnqueueFailed(Exception):
    """The batch is recorded, but sending its tasks failed after ``summary.enqueued``."""

    def __init__(self, summary: SubmitSummary, todo: int, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.summary, self.todo, self.cause = summary, todo, cause


def _list_s3(uri: str, settings: Settings) -> Iterator[Entry]:
    """Every object under s3://bucket/prefix, page by page; ListError if it cannot be listed
    (no credentials, no such bucket, no endpoint): the source is unusable, nothing is done."""
    from botocore.exceptions import BotoCoreError, ClientError

    from common.media import s3_client

    parts = urlsplit(uri)
    try:
        pages = (
            s3_client(settings)
            .get_paginator("list_objects_v2")
            .paginate(Bucket=parts.netloc, Prefix=parts.path.lstrip("/"))
        )
        for page in pages:
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):
                    yield Entry(f"s3://{parts.netloc}/{obj['Key']}")
    except (BotoCoreError, ClientError) as exc:
        raise ListError(uri, None, f"cannot list it: {exc}") from None


def read_entries(source: str, settings: Settings) -> Iterator[Entry]:
    """Checked entries of a list file (scheduler.lists; '-' = stdin, as txt) or an S3 prefix.

    ListError at the first line that is no usable entry or names a target a worker may not
    read (common.target_policy): the caller reads to the end before acting on any.
    """
    if source.startswith("s3://"):
        entries: Iterable[Entry] = _list_s3(source, settings)
    elif source == "-":
        entries = parse_list(sys.stdin.buffer, ".txt", "<stdin>")
    else:
        entries = read_list(Path(source))
    for entry in entries:
        try:
            check_worker_target(entry.url, settings)
        except ScanError as exc:
            raise ListError(source, entry.line or None, f"{exc.message} ({exc.code})") from None
        yield entry


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


def _spool_entries(entries: Iterable[Entry], spool: IO[str]) -> int:
    """Write every entry (one JSON array a line); the count. Raises what reading raises."""
    n = 0
    for e in entries:
        spool.write(json.dumps([e.url, e.label, e.external_id]) + "\n")
        n += 1
    spool.seek(0)
    return n


def _chunks(spool: IO[str], size: int) -> Iterator[list[Entry]]:
    while chunk := [Entry(*json.loads(line)) for line in islice(spool, size)]:
        yield chunk


def submit(
    entries: Iterable[Entry],
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
    ready: Callable[[], None] | None = None,
) -> SubmitSummary:
    """Record ``entries`` as a new batch and enqueue the videos not yet scanned by this model.

    ``entries`` are read to the end before anything is written: whatever reading them
    raises (ListError for a bad list) leaves no batch, row or task behind; so does whatever
    ``ready`` raises, called between the reading and the writing (the CLI checks there that
    the broker answers). ``rescan`` enqueues every video again; ``resend_pending`` also those
    still pending (their tasks were lost, e.g. with a wiped broker), but not the finished
    ones. EnqueueFailed when the broker fails after the batch was recorded.
    """
    skip: tuple[str, ...] = (
        () if rescan else ("done", "failed") if resend_pending else ("done", "failed", "pending")
    )
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as listed,
        tempfile.TemporaryFile("w+", encoding="utf-8") as todo,
    ):
        total = _spool_entries(entries, listed)
        if ready is not None:
            ready()
        with session_scope(sessions) as session:  # one transaction for the whole batch
            batch = Batch(name=name, source=source, model_version=model_version, total=0)
            session.add(batch)
            session.flush()
            summary = SubmitSummary(batch_id=batch.id, model_version=model_version, total=total)
            n_todo = 0
            for chunk in _chunks(listed, chunk_size):
                for video_id, url in _record_chunk(session, batch.id, chunk, model_version, skip):
                    todo.write(json.dumps([video_id, url]) + "\n")
                    n_todo += 1
            batch.total = session.scalar(
                select(func.count()).select_from(BatchItem).where(BatchItem.batch_id == batch.id)
            )
        todo.seek(0)
        try:
            for line in todo:
                video_id, url = json.loads(line)
                sender.send_task(task_name, args=[video_id, url, model_version], queue=queue)
                summary.enqueued += 1
        except Exception as exc:
            raise EnqueueFailed(summary, n_todo, exc) from exc
    summary.skipped = summary.total - summary.enqueued
    return summary
