"""`dfscan status`: the rate over the last minute decays when a batch stalls, the ETA follows
it, a STALLED line names the recovery command, --watch goes on through a database outage,
and an unreachable database is one line with exit 4."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.engine import Engine

from common.db import (
    Batch,
    Scan,
    init_db,
    make_engine,
    session_factory,
    session_scope,
    upsert_scan,
    utcnow,
)
from common.types import ScanResult
from scheduler.cli import main as dfscan
from scheduler.lists import Entry
from scheduler.outages import EXIT_UNAVAILABLE, Unavailable
from scheduler.report import BatchStatus, batch_status
from scheduler.submit import submit
from scheduler.watch import report, watch

MODEL = "m-watch"


class Sent:
    def __init__(self) -> None:
        self.args: list[list[Any]] = []

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        self.args.append(list(args))


def _batch(engine: Engine, n: int, host: str = "h.test") -> tuple[int, list[list[Any]]]:
    sent = Sent()
    entries = [Entry(f"http://{host}/{i}.mp4") for i in range(n)]
    summary = submit(
        entries,
        sessions=session_factory(engine),
        sender=sent,
        task_name="dfscan.scan_video",
        model_version=MODEL,
    )
    return summary.batch_id, sent.args


def _finish(engine: Engine, tasks: list[list[Any]], at: datetime) -> None:
    """Results for these tasks, as written at ``at``."""
    sessions = session_factory(engine)
    for video_id, url, model in tasks:
        with session_scope(sessions) as s:
            upsert_scan(
                s, video_id, ScanResult(target=url, score=0.1, label="real", model_version=model)
            )
            s.execute(update(Scan).where(Scan.video_id == video_id).values(updated_at=at))


def _status(engine: Engine, batch_id: int, now: datetime) -> BatchStatus:
    with session_scope(session_factory(engine)) as s:
        return batch_status(s, batch_id, now=now)


def test_rate_over_the_last_minute_decays_and_stalls(engine: Engine) -> None:
    batch_id, tasks = _batch(engine, 10)
    t0 = utcnow() + timedelta(seconds=5)  # results land after the batch was created
    _finish(engine, tasks[:6], t0 + timedelta(seconds=30))

    live = _status(engine, batch_id, now=t0 + timedelta(seconds=60))
    assert (live.done, live.pending) == (6, 4)
    assert live.rate_1m == pytest.approx(6 / 60)
    assert live.eta_s == pytest.approx(4 / (6 / 60))
    assert live.idle_s == pytest.approx(30, abs=0.01) and not live.stalled(300)

    later = _status(engine, batch_id, now=t0 + timedelta(minutes=10))
    # The average since the start stays where it was; the last-minute rate says the truth.
    assert later.videos_per_s == live.videos_per_s and later.videos_per_s > 0
    assert (later.rate_1m, later.eta_s) == (0, None)
    assert later.stalled(300)
    lines = report(later, stall_after_s=300, visibility_timeout_s=1050)
    assert lines[1].startswith("STALLED: no result for 9m30s while 4 videos are pending")
    assert "`dfscan recover`" in lines[1]

    _finish(engine, tasks[6:], t0 + timedelta(minutes=11))
    done = _status(engine, batch_id, now=t0 + timedelta(minutes=11, seconds=1))
    assert (done.pending, done.eta_s) == (0, None) and not done.stalled(1)
    assert len(report(done, stall_after_s=1, visibility_timeout_s=1050)) == 1


def test_watch_goes_on_through_an_outage_until_nothing_is_pending() -> None:
    def st(pending: int, idle_s: float) -> BatchStatus:
        now = utcnow()
        return BatchStatus(
            1,
            "b",
            MODEL,
            5,
            5 - pending,
            0,
            pending,
            now,
            None,
            None,
            rate_1m=0.0,
            eta_s=None,
            idle_s=idle_s,
        )

    reads: list[Any] = [
        Unavailable("database unavailable at postgresql://h/db: refused"),
        st(3, 400),
        st(0, 0),
    ]

    def read() -> BatchStatus:
        item = reads.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    out: list[str] = []
    warned: list[str] = []
    sleeps: list[float] = []
    last = watch(
        read,
        lambda s: report(s, stall_after_s=300, visibility_timeout_s=60),
        out.append,
        warned.append,
        interval_s=2,
        sleep=sleeps.append,
    )
    assert last.pending == 0 and reads == [] and sleeps == [2, 2]
    (warning,) = warned
    assert "database unavailable" in warning and warning.endswith("trying again in 2s")
    assert [line.split(":")[0] for line in out] == [
        "batch 1 'b' (model m-watch)",
        "STALLED",
        "batch 1 'b' (model m-watch)",
    ]


def test_status_cli_watch_json_and_stall(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(db)
    init_db(engine)
    batch_id, tasks = _batch(engine, 3)
    _finish(engine, tasks, utcnow())
    env = {"DFSCAN_DATABASE_URL": db}
    out = CliRunner().invoke(
        dfscan, ["status", str(batch_id), "--watch", "--interval", "0.1"], env=env
    )
    assert out.exit_code == 0, out.output
    (line,) = out.output.splitlines()  # nothing pending: one line, then the watch ends
    assert "3 done, 0 failed, 0 pending" in line and "ETA -" in line

    batch2, _ = _batch(engine, 2, "other.test")  # never scanned, submitted 10 minutes ago
    with session_scope(session_factory(engine)) as s:
        past = utcnow() - timedelta(minutes=10)
        s.execute(update(Batch).where(Batch.id == batch2).values(created_at=past))
    args = ["status", str(batch2), "--json", "--stall-after", "300"]
    got = json.loads(CliRunner().invoke(dfscan, args, env=env).output)
    assert got["stalled"] and got["recover_command"] == "dfscan recover"
    assert (got["pending"], got["rate_1m"], got["eta_s"]) == (2, 0.0, None)
    engine.dispose()


def test_status_with_the_database_down_is_one_line() -> None:
    env = {"DFSCAN_DATABASE_URL": "postgresql+psycopg://dfscan:s3cret@127.0.0.1:1/dfscan"}
    out = CliRunner().invoke(dfscan, ["status", "1"], env=env)
    assert out.exit_code == EXIT_UNAVAILABLE
    (line,) = out.output.strip().splitlines()
    assert line.startswith("Error: database unavailable at postgresql+psycopg://dfscan:***@")
    assert "s3cret" not in out.output
