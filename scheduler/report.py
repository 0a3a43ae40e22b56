"""Batch progress, error rates against ground truth, and the flagged-video list.

Counts are aggregated in SQL (CASE / GROUP BY), so a batch of millions costs one query, not
millions of rows in Python. Only the EER needs individual scores: it streams (score, label)
pairs, two floats' worth per video, into the same EER as ``dfscan evaluate``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import numpy as np
from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from common.db import Batch, BatchItem, Scan, Video
from models.metrics import eer


class UnknownBatch(LookupError):
    pass


# `dfscan status` reports the rate over this last stretch: an average since the start would
# not decay while a batch stalls.
RATE_WINDOW_S = 60.0


def _aware(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is stored as UTC."""
    if ts is not None and ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts


def get_batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise UnknownBatch(f"no batch {batch_id}")
    return batch


def latest_batch_id(session: Session) -> int:
    """The newest batch's id (``dfscan report last``)."""
    newest = session.scalar(select(func.max(Batch.id)))
    if newest is None:
        raise UnknownBatch("no batch in this database yet")
    return int(newest)


def batch_scans(batch: Batch) -> Select[Any]:
    """FROM batch_items LEFT JOIN scans (this batch's model) JOIN videos, for one batch."""
    return (
        select()
        .select_from(BatchItem)
        .join(Video, Video.id == BatchItem.video_id)
        .outerjoin(
            Scan,
            and_(Scan.video_id == BatchItem.video_id, Scan.model_version == batch.model_version),
        )
        .where(BatchItem.batch_id == batch.id)
    )


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass(slots=True)
class BatchStatus:
    batch_id: int
    name: str
    model_version: str
    total: int
    done: int
    failed: int
    pending: int
    created_at: datetime
    last_update: datetime | None  # this batch's latest result
    videos_per_s: float | None  # on average, from the batch's creation to its latest result
    rate_1m: float  # videos per second over the last RATE_WINDOW_S
    eta_s: float | None  # pending / rate_1m: None while nothing finishes
    idle_s: float  # seconds since the latest result (or since creation, before the first)

    def stalled(self, after_s: float) -> bool:
        """Rows are pending and nothing finished for ``after_s`` seconds."""
        return self.pending > 0 and self.idle_s >= after_s

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("created_at", "last_update"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def batch_status(session: Session, batch_id: int, now: datetime | None = None) -> BatchStatus:
    """done/failed/pending counts, the scan rate (overall and over the last minute), an ETA
    and how long ago the latest result landed."""
    batch = get_batch(session, batch_id)
    now = now or datetime.now(UTC)
    created = _aware(batch.created_at)
    finished = Scan.status.in_(("done", "failed"))
    # Rows written since the batch began measure this batch's throughput; results reused
    # from earlier batches would inflate it.
    fresh = and_(finished, Scan.updated_at >= batch.created_at)
    window_start = max(created, now - timedelta(seconds=RATE_WINDOW_S))
    row = session.execute(
        batch_scans(batch).add_columns(
            func.count(),
            _count_if(Scan.status == "done"),
            _count_if(Scan.status == "failed"),
            _count_if(fresh),
            func.max(case((fresh, Scan.updated_at))),
            _count_if(and_(fresh, Scan.updated_at >= window_start)),
        )
    ).one()
    total, done, failed, fresh_n, last, recent = row
    last = _aware(last)
    rate = None
    if fresh_n and last is not None and last > created:
        rate = fresh_n / (last - created).total_seconds()
    # A batch younger than the window is measured over its age.
    rate_1m = recent / max(1.0, (now - window_start).total_seconds())
    pending = total - done - failed
    return BatchStatus(
        batch_id=batch.id,
        name=batch.name,
        model_version=batch.model_version,
        total=total,
        done=done,
        failed=failed,
        pending=pending,
        created_at=created,
        last_update=last,
        videos_per_s=rate,
        rate_1m=rate_1m,
        eta_s=pending / rate_1m if pending and rate_1m > 0 else None,
        idle_s=max(0.0, (now - (last or created)).total_seconds()),
    )


@dataclass(slots=True)
class BatchReport:
    """Error rates against the ground truth the list carried.

    FAR: fakes let through as real / fakes scored. FRR: reals flagged fake / reals scored.
    EER: where the two are equal when the threshold is swept over the scores.
    """

    batch_id: int
    model_version: str
    total: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    labelled_fake: int = 0
    labelled_real: int = 0
    fake_as_real: int = 0
    real_as_fake: int = 0
    flagged: int = 0
    far: float | None = None
    frr: float | None = None
    eer: float | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def batch_report(session: Session, batch_id: int) -> BatchReport:
    batch = get_batch(session, batch_id)
    rep = BatchReport(batch_id=batch.id, model_version=batch.model_version)
    # One GROUP BY over (truth, verdict, status): every count below is a sum of its cells.
    grouped = session.execute(
        batch_scans(batch)
        .add_columns(Video.label, Scan.label, Scan.status, func.count())
        .group_by(Video.label, Scan.label, Scan.status)
    )
    for truth, verdict, status, n in grouped:
        rep.total += n
        if status not in ("done", "failed"):
            rep.pending += n
            continue
        if status == "failed":
            rep.failed += n
            continue
        rep.done += n
        rep.flagged += n if verdict == "fake" else 0
        if truth == "fake":
            rep.labelled_fake += n
            rep.fake_as_real += n if verdict == "real" else 0
        elif truth == "real":
            rep.labelled_real += n
            rep.real_as_fake += n if verdict == "fake" else 0
    by_code = session.execute(
        batch_scans(batch)
        .add_columns(Scan.error_code, func.count())
        .where(Scan.status == "failed")
        .group_by(Scan.error_code)
    )
    rep.errors = {code: n for code, n in by_code}
    rep.far = rep.fake_as_real / rep.labelled_fake if rep.labelled_fake else None
    rep.frr = rep.real_as_fake / rep.labelled_real if rep.labelled_real else None
    rep.eer = equal_error_rate(*_scores_and_truth(session, batch))
    return rep


def _scores_and_truth(session: Session, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    rows = session.execute(
        batch_scans(batch)
        .add_columns(Scan.score, Video.label)
        .where(Scan.status == "done", Scan.score.is_not(None), Video.label.in_(("fake", "real")))
        .execution_options(yield_per=10_000)
    )
    scores, fakes = [], []
    for score, truth in rows:
        scores.append(score)
        fakes.append(truth == "fake")
    return np.asarray(scores, dtype=np.float64), np.asarray(fakes, dtype=bool)


def equal_error_rate(scores: np.ndarray, is_fake: np.ndarray) -> float | None:
    """EER of 'score >= t means fake' (models.metrics.eer); None without both classes."""
    if is_fake.all() or not is_fake.any():
        return None
    return eer(scores, is_fake.astype(int)).far


# ----------------------------------------------------------------------------- flagged

FLAGGED_COLUMNS = (
    "video_id",
    "url",
    "external_id",
    "score",
    "truth",
    "model_version",
    "updated_at",
)
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """ISO date/time (UTC unless it says otherwise) or a span back from now: 30m, 24h, 7d."""
    match = _RELATIVE.match(text.strip().lower())
    if match:
        now = now or datetime.now(UTC)
        return now - timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])
    ts = datetime.fromisoformat(text.strip())
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def flagged_query(
    *,
    batch: Batch | None = None,
    since: datetime | None = None,
    min_score: float | None = None,
    limit: int | None = None,
) -> Select[Any]:
    """Finished scans with a 'fake' verdict, highest score first."""
    query = (
        select(
            Video.id,
            Video.url,
            Video.external_id,
            Scan.score,
            Video.label,
            Scan.model_version,
            Scan.updated_at,
        )
        .join(Video, Video.id == Scan.video_id)
        .where(Scan.status == "done", Scan.label == "fake")
    )
    if batch is not None:
        query = query.join(
            BatchItem, and_(BatchItem.video_id == Scan.video_id, BatchItem.batch_id == batch.id)
        ).where(Scan.model_version == batch.model_version)
    if since is not None:
        query = query.where(Scan.updated_at >= since)
    if min_score is not None:
        query = query.where(Scan.score >= min_score)
    query = query.order_by(Scan.score.desc(), Video.id)
    return query.limit(limit) if limit else query


def iter_flagged(session: Session, batch_id: int | None = None, **filters: Any) -> Iterator[dict]:
    batch = get_batch(session, batch_id) if batch_id is not None else None
    rows = session.execute(flagged_query(batch=batch, **filters).execution_options(yield_per=1000))
    for row in rows:
        record = dict(zip(FLAGGED_COLUMNS, row, strict=True))
        ts = _aware(record["updated_at"])
        record["updated_at"] = ts.isoformat() if ts else None
        yield record


def write_flagged(records: Iterator[dict], out: IO[str], fmt: str) -> int:
    """Write records as table, csv or json (streamed in every format); return the count."""
    writer = {"csv": _write_csv, "json": _write_json, "table": _write_table}[fmt]
    return writer(records, out)


def _write_csv(records: Iterator[dict], out: IO[str]) -> int:
    w = csv.DictWriter(out, fieldnames=FLAGGED_COLUMNS, lineterminator="\n")
    w.writeheader()
    n = 0
    for rec in records:
        w.writerow(rec)
        n += 1
    return n


def _write_json(records: Iterator[dict], out: IO[str]) -> int:
    out.write("[")
    n = 0
    for rec in records:
        out.write(("\n  " if n == 0 else ",\n  ") + json.dumps(rec))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _write_table(records: Iterator[dict], out: IO[str]) -> int:
    # Fixed widths rather than measured ones, so the table streams.
    out.write(f"{'video':>8}  {'score':>6}  {'truth':5}  {'updated (UTC)':19}  url\n")
    n = 0
    for r in records:
        n += 1
        truth = r["truth"] or "-"
        when = (r["updated_at"] or "")[:19].replace("T", " ")
        out.write(f"{r['video_id']:>8}  {r['score']:6.3f}  {truth:5}  {when:19}  {r['url']}\n")
    out.write(f"{n} flagged\n")
    return n
