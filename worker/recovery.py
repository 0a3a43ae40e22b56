"""The recovery sweep: pending rows whose task is gone are sent again, or recorded failed.

A ``pending`` scan row normally has its task in the Redis queue or in a worker's hands
(:mod:`worker.broker`). It has none after Redis restarted without persistence, after a
submit whose enqueue failed, or after a task ended without writing its row (killed at the
hard time limit, its result dropped after ``DFSCAN_DB_WAIT_S``, a bug). The sweep sends such
rows again once they have been pending longer than ``DFSCAN_RECOVER_AFTER_S``; a row that
lost its task ``DFSCAN_RECOVER_MAX`` times is recorded ``failed`` (``task_lost``) with why.
A task held by a worker that died is *not* lost: Redis hands it back after the visibility
timeout, and the sweep reports it.

It is cheap when nothing is lost: while the broker holds at least as many tasks as there are
stale rows, every stale row may still have its task, and the sweep stops after two counts.
Otherwise it reads the tasks the broker holds (fewer than the stale rows) and compares.
Rows are claimed in the database before their task is sent, so two sweeps running at once
never send a row twice. Beat runs it every ``DFSCAN_RECOVER_EVERY_S`` (``dfscan beat``);
``dfscan recover`` runs it on demand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from celery import Celery
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from common.db import Scan, Video, session_scope, utcnow
from common.settings import Settings
from worker import dry_run
from worker.broker import BrokerView, Held, TaskKey

log = logging.getLogger(__name__)

RECOVER_TASK = "dfscan.recover"
# Its own queue, which workers also consume: a sweep does not wait behind a long scan
# queue, and the scan queue holds scan tasks only (the sweep counts them).
RECOVER_QUEUE = "dfscan.recover"
LOST = "task_lost"
PAGE = 500


class Broker(Protocol):
    """What the sweep needs of the broker (:class:`worker.broker.BrokerView` and a sender)."""

    def queued(self) -> int: ...
    def queued_keys(self) -> Iterable[TaskKey]: ...
    def held(self) -> list[Held]: ...


@dataclass(slots=True)
class Sweep:
    """What one sweep found and did."""

    stale: int = 0  # rows pending longer than the bound
    queued: int = 0  # scan tasks waiting in the queue
    held: list[Held] = field(default_factory=list)  # delivered, not acknowledged
    resent: list[int] = field(default_factory=list)  # video ids sent again
    failed: list[int] = field(default_factory=list)  # video ids recorded task_lost
    waiting: bool = False  # the broker holds enough tasks to cover every stale row

    def as_json(self) -> dict[str, Any]:
        return {
            "stale": self.stale,
            "queued": self.queued,
            "held": [
                {"video_id": h.video_id, "model_version": h.model_version, "since": h.delivered_at}
                for h in self.held
            ],
            "resent": self.resent,
            "failed": self.failed,
            "waiting": self.waiting,
        }


def _stale(cutoff: datetime) -> Any:
    # Dry-run rows are a load test's, its tasks in a queue the sweep does not read: left be.
    return (
        (Scan.status == "pending")
        & (Scan.updated_at < cutoff)
        & (Scan.model_version != dry_run.VERSION)
    )


def _stale_pages(sessions: sessionmaker[Session], cutoff: datetime) -> Iterator[list[Any]]:
    """Stale rows with their URL, by scan id, one page per transaction."""
    after = 0
    while True:
        with session_scope(sessions) as s:
            rows = s.execute(
                select(Scan.id, Scan.video_id, Scan.model_version, Scan.recoveries, Video.url)
                .join(Video, Video.id == Scan.video_id)
                .where(_stale(cutoff), Scan.id > after)
                .order_by(Scan.id)
                .limit(PAGE)
            ).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _claim(s: Session, ids: list[int], cutoff: datetime, values: dict[str, Any]) -> set[int]:
    """Update the rows still stale (another sweep may have taken some); return their ids."""
    stmt = update(Scan).where(Scan.id.in_(ids), _stale(cutoff)).values(**values)
    return set(s.scalars(stmt.returning(Scan.id)))


def _lost_message(deliveries: int) -> str:
    return (
        f"no result after {deliveries} deliveries: each time its task was lost (broker "
        f"restarted without persistence, a task killed at the time limit or whose result "
        f"waited for the database past DFSCAN_DB_WAIT_S); see the worker logs, then "
        f"dfscan submit LIST --rescan"
    )


def sweep(
    sessions: sessionmaker[Session],
    broker: Broker,
    send: Callable[[int, str, str], None],
    *,
    older_than_s: float,
    max_recoveries: int,
    dry_run: bool = False,
) -> Sweep:
    """Send again the stale pending rows that have no live task; see the module docstring.

    ``send(video_id, url, model_version)`` enqueues one scan task.
    """
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    out = Sweep()
    with session_scope(sessions) as s:
        out.stale = s.scalar(select(func.count()).select_from(Scan).where(_stale(cutoff))) or 0
    if not out.stale:
        return out
    out.queued, out.held = broker.queued(), broker.held()
    if out.queued + len(out.held) >= out.stale:
        out.waiting = True  # the queue may still hold every stale row's task: look later
        return out
    live = {(h.video_id, h.model_version) for h in out.held} | set(broker.queued_keys())
    for rows in _stale_pages(sessions, cutoff):
        lost = [r for r in rows if (r.video_id, r.model_version) not in live]
        if dry_run:
            out.resent += [r.video_id for r in lost if r.recoveries < max_recoveries]
            out.failed += [r.video_id for r in lost if r.recoveries >= max_recoveries]
            continue
        _give_up(sessions, [r for r in lost if r.recoveries >= max_recoveries], cutoff, out)
        _resend(sessions, [r for r in lost if r.recoveries < max_recoveries], cutoff, send, out)
    return out


def _give_up(
    sessions: sessionmaker[Session], rows: list[Any], cutoff: datetime, out: Sweep
) -> None:
    for r in rows:
        with session_scope(sessions) as s:
            values = {
                "status": "failed",
                "error_code": LOST,
                "error_message": _lost_message(r.recoveries + 1),
                "updated_at": utcnow(),
            }
            if _claim(s, [r.id], cutoff, values):
                out.failed.append(r.video_id)
                log.error("video %s recorded %s: %s", r.video_id, LOST, values["error_message"])


def _resend(
    sessions: sessionmaker[Session],
    rows: list[Any],
    cutoff: datetime,
    send: Callable[[int, str, str], None],
    out: Sweep,
) -> None:
    if not rows:
        return
    # Claimed first (fresh updated_at, one more recovery), then sent: a concurrent sweep
    # finds them no longer stale; a send that fails leaves them for a later sweep.
    with session_scope(sessions) as s:
        values = {"recoveries": Scan.recoveries + 1, "updated_at": utcnow()}
        mine = _claim(s, [r.id for r in rows], cutoff, values)
    for r in rows:
        if r.id in mine:
            send(r.video_id, r.url, r.model_version)
            out.resent.append(r.video_id)
    if out.resent:
        log.warning("sent %d lost tasks again (videos %s)", len(out.resent), out.resent[:20])


def register(app: Celery, settings: Settings, queue: str, task_name: str) -> None:
    """The sweep as a task on ``app``, and beat's schedule for it."""
    from worker.tasks import get_sessions

    @app.task(name=RECOVER_TASK, shared=False, ignore_result=True)
    def recover() -> dict[str, Any]:
        """One sweep (see :func:`sweep`), run by a worker when beat sends it."""
        t0 = time.monotonic()
        found = sweep(
            get_sessions(settings),
            BrokerView(app, queue),
            lambda vid, url, mv: app.send_task(task_name, args=[vid, url, mv], queue=queue),
            older_than_s=settings.recover_after_s,
            max_recoveries=settings.recover_max,
        )
        log.info(
            "recovery sweep in %.2f s: %d stale, %d resent, %d failed",
            time.monotonic() - t0,
            found.stale,
            len(found.resent),
            len(found.failed),
        )
        return found.as_json()

    app.conf.beat_schedule = {
        "recover": {
            "task": RECOVER_TASK,
            "schedule": settings.recover_every_s,
            # A sweep not run by the time the next is due (no worker up) is dropped.
            "options": {"queue": RECOVER_QUEUE, "expires": settings.recover_every_s},
        }
    }
