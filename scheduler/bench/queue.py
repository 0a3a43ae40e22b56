"""``dfscan bench --queue-load N``: the distributed mode's queue path under load, measured.

N dry-run tasks (:mod:`worker.dry_run`: nothing fetched or scanned, rows unscored under the
model version ``dry-run``) go through the real path: ``scheduler.submit`` records the batch
in Postgres and enqueues one task each in Redis; then a real ``dfscan worker --dry-run``
with W pool processes drains the queue, each task upserting its row. Measured:

- submit: rows/s of its one transaction (video, batch item and pending scan row per task),
  tasks/s of the enqueue, and the WAL bytes each task costs;
- queue: Redis memory per queued task (``used_memory`` with all N queued, less before) and
  the size of one task message;
- drain: tasks/s from the first row written to the last, the wall time each task holds a
  worker, and the CPU each task costs the worker (main process and pool, from ``/proc``),
  Redis (its ``INFO``) and the Postgres backends serving the workers (``/proc``, when
  Postgres runs here); Redis commands per task and per second, WAL bytes per task;
- storage: bytes per video of the three tables a batch writes, indexes included, and the
  mean size of a ``scans`` row.

The run is bounded: at most ``MAX_TASKS`` tasks, and the drain stops at ``timeout_s``
(the figures then say how many rows arrived). It refuses a database that holds any batch
not made by a benchmark: the load test belongs in a database of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from common.db import Batch, BatchItem, Scan, init_db, make_engine, session_factory, session_scope
from common.settings import Settings, as_environment
from scheduler.bench import services
from scheduler.bench.measure import loadavg
from scheduler.bench.memory import TreeSampler
from scheduler.bench.scaling import memory_figures

MAX_TASKS = 1_000_000
SOURCE = "dfscan bench"  # the Batch.source of every batch a benchmark makes
READY_S = 120.0
POLL_S = 1.0


class QueueBenchError(Exception):
    """The load test cannot run here (no broker, a database that is not the bench's own)."""


def check_target(settings: Settings, engine: Engine) -> None:
    """Refuse what the load test must not write to: no broker, SQLite, a real database."""
    if not settings.broker_url:
        raise QueueBenchError("the queue load test needs a broker: set DFSCAN_BROKER_URL")
    if engine.dialect.name != "postgresql":
        raise QueueBenchError(
            "the queue load test measures the distributed mode: DFSCAN_DATABASE_URL must name a "
            "PostgreSQL database of its own (e.g. createdb dfscan_bench)"
        )
    init_db(engine)
    with session_scope(session_factory(engine)) as s:
        real = s.scalar(
            select(func.count()).select_from(Batch).where(~Batch.source.startswith(SOURCE))
        )
    if real:
        raise QueueBenchError(
            f"{engine.url.render_as_string(hide_password=True)} holds {real} batches that no "
            "benchmark made: the load test writes thousands of rows, so point "
            "DFSCAN_DATABASE_URL at a database of its own (e.g. createdb dfscan_bench)"
        )


@dataclass
class Worker:
    """A ``dfscan worker`` started by the benchmark, in its own process group."""

    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    pool: int  # pool processes
    ready_at: float | None = None
    cpu_at_ready: float = 0.0

    def wait_ready(self) -> None:
        deadline = self.started + READY_S
        while " ready." not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.time() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise QueueBenchError(f"the benchmark's worker did not start:\n{tail}")
            time.sleep(0.05)
        self.ready_at = time.time()
        self.cpu_at_ready = services.tree_cpu(self.proc.pid)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextlib.contextmanager
def worker_pool(settings: Settings, workers: int, *args: str) -> Iterator[Worker]:
    """``dfscan worker`` with ``workers`` pool processes and these settings; stopped after."""
    with tempfile.TemporaryDirectory(prefix="dfscan-bench-worker-") as tmp:
        log = Path(tmp) / "worker.log"
        name = f"bench-{uuid.uuid4().hex[:8]}@%h"
        cmd = [sys.executable, "-m", "scheduler.cli", "worker", "-c", str(workers), "-n", name]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*cmd, "--loglevel", "INFO", *args],
                env={**os.environ, **as_environment(settings)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group, stopped as one
            )
        worker = Worker(proc, log, time.time(), workers)
        try:
            yield worker
        finally:
            worker.stop()


def _batch_rows(engine: Engine, batch_id: int) -> tuple[int, int, float | None, float | None]:
    """(rows, rows no longer pending, first and last write as epoch seconds) of a batch."""
    with session_scope(session_factory(engine)) as s:
        q = (
            select(func.count(), func.min(Scan.updated_at), func.max(Scan.updated_at))
            .select_from(BatchItem)
            .join(Scan, Scan.video_id == BatchItem.video_id)
            .where(BatchItem.batch_id == batch_id, Scan.status != "pending")
        )
        finished, first, last = s.execute(q).one()
        total = s.scalar(
            select(func.count()).select_from(BatchItem).where(BatchItem.batch_id == batch_id)
        )
    return total or 0, finished, _epoch(first), _epoch(last)


def _epoch(when: Any) -> float | None:
    return None if when is None else when.timestamp()


def wait_drained(engine: Engine, batch_id: int, total: int, worker: Worker, until: float) -> int:
    """Poll until every row of the batch is written, the worker dies, or ``until``."""
    done = 0
    while time.time() < until and worker.proc.poll() is None:
        done = _batch_rows(engine, batch_id)[1]
        if done >= total:
            break
        time.sleep(POLL_S)
    return done


def per(value: float | None, count: int) -> float | None:
    return None if value is None or count <= 0 else value / count


class _TimedSender:
    """Celery's ``send_task``, noting when the first task went out (the database's part of
    the submit ends there, the broker's begins)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.first: float | None = None

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any:
        self.first = self.first or time.time()
        return self.app.send_task(name, args=args, **options)


@dataclass
class _Submitted:
    batch_id: int
    tasks: int
    figures: dict[str, Any]


def _submit(
    engine: Engine, app: Any, entries: Any, *, queue: str, model_version: str, name: str, **kw: Any
) -> _Submitted:
    """Record and enqueue a batch through scheduler.submit; its timings and WAL bytes."""
    from scheduler.submit import submit
    from worker.tasks import TASK_NAME

    sender = _TimedSender(app)
    wal0, t0, c0 = services.wal_position(engine), time.time(), time.process_time()
    summary = submit(
        entries,
        sessions=session_factory(engine),
        sender=sender,
        task_name=TASK_NAME,
        model_version=model_version,
        name=name,
        source=f"{SOURCE} {name}",
        queue=queue,
        **kw,
    )
    t1, cpu = time.time(), time.process_time() - c0
    wal = services.wal_bytes(engine, wal0, services.wal_position(engine))
    n = summary.enqueued
    first = sender.first or t1
    db_s, send_s = first - t0, t1 - first
    return _Submitted(
        summary.batch_id,
        n,
        {
            "wall_s": t1 - t0,
            "cpu_s": cpu,
            # One transaction: a video, a batch item and a pending scan row per task.
            "db_s": db_s,
            "db_rows_per_s": 3 * n / db_s if db_s > 0 else None,
            "enqueue_s": send_s,
            "enqueued_per_s": n / send_s if send_s > 0 else None,
            "wal_bytes_per_task": per(wal, n),
        },
    )


def _drain(
    engine: Engine, client: Any, worker: Worker, sub: _Submitted, timeout_s: float
) -> dict[str, Any]:
    """Wait for the batch's rows; what the drain cost the worker, Redis and Postgres."""
    r0, wal0 = services.redis_stats(client), services.wal_position(engine)
    done = wait_drained(engine, sub.batch_id, sub.tasks, worker, time.time() + timeout_s)
    cpu = services.tree_cpu(worker.proc.pid) - worker.cpu_at_ready
    pg_cpu = services.backend_cpu(engine)
    r1, wal1 = services.redis_stats(client), services.wal_position(engine)
    _, done, first, last = _batch_rows(engine, sub.batch_id)
    span = (last - first) if first and last else None
    rate = (done - 1) / span if span and done > 1 else None
    return {
        "complete": done >= sub.tasks,
        "rows_written": done,
        "wall_s": span,
        "tasks_per_s": rate,
        "db_rows_per_s": rate,  # one upsert per task
        "worker_ms_per_task": per(1000 * cpu, done),
        "worker_wall_ms_per_task": 1000 * worker.pool / rate if rate else None,
        "redis_cpu_ms_per_task": per(1000 * (r1.cpu_s - r0.cpu_s), done),
        "postgres_cpu_ms_per_task": per(None if pg_cpu is None else 1000 * pg_cpu, done),
        "redis_commands_per_task": per(r1.commands - r0.commands, done),
        "redis_commands_per_s": (r1.commands - r0.commands) / span if span else None,
        "wal_bytes_per_task": per(services.wal_bytes(engine, wal0, wal1), done),
        "first_row_after_launch_s": first - worker.started if first else None,
        "worker_ready_s": (worker.ready_at or worker.started) - worker.started,
        "worker_startup_cpu_s": worker.cpu_at_ready,
    }


def _redis(settings: Settings) -> Any:
    import redis

    return redis.Redis.from_url(settings.broker_url)


def queue_load(
    n: int, settings: Settings, *, workers: int = 2, timeout_s: float = 1800.0
) -> dict[str, Any]:
    """N dry-run tasks submitted, queued, then drained by ``workers`` pool processes."""
    from scheduler.lists import Entry
    from worker import dry_run
    from worker.celery_app import make_app

    if not 1 <= n <= MAX_TASKS:
        raise QueueBenchError(f"--queue-load takes 1 to {MAX_TASKS} tasks, not {n}")
    engine = make_engine(settings.database_url)
    try:
        check_target(settings, engine)
        client, app = _redis(settings), make_app(settings)
        client.delete(dry_run.QUEUE)  # what an interrupted run left: the dry-run queue only
        out: dict[str, Any] = {"tasks": n, "workers": workers, "load_before": loadavg()}
        run = uuid.uuid4().hex[:8]  # new URLs, so every task writes new rows
        entries = (Entry(f"https://dry-run.invalid/{run}/{i}.mp4") for i in range(n))
        before = services.redis_stats(client)
        sub = _submit(
            engine, app, entries, queue=dry_run.QUEUE, model_version=dry_run.VERSION,
            name=f"--queue-load {n}",
        )  # fmt: skip
        queued = services.redis_stats(client)
        head = client.lindex(dry_run.QUEUE, 0)
        out["submit"] = sub.figures
        out["queue"] = {
            "queued": client.llen(dry_run.QUEUE),
            "redis_bytes_per_task": per(queued.used_memory - before.used_memory, sub.tasks),
            "queue_key_bytes": client.memory_usage(dry_run.QUEUE, samples=0),
            "message_bytes": len(head) if head else None,
            "redis_commands_per_task_at_submit": per(queued.commands - before.commands, sub.tasks),
        }
        with worker_pool(settings, workers, "--dry-run") as worker:
            worker.wait_ready()
            out["drain"] = _drain(engine, client, worker, sub, timeout_s)
        out["storage_bytes_per_video"] = per(services.table_bytes(engine), _videos(engine))
        out["scan_row_bytes"] = services.scan_row_bytes(engine, sub.batch_id)
        out["load_after"] = loadavg()
        return out
    finally:
        engine.dispose()


def _videos(engine: Engine) -> int:
    from common.db import Video

    with session_scope(session_factory(engine)) as s:
        return s.scalar(select(func.count()).select_from(Video)) or 0


def distributed_scan(
    paths: list[Path], settings: Settings, *, workers: int = 2, timeout_s: float = 1800.0
) -> dict[str, Any]:
    """The videos scanned for real by a ``dfscan worker`` with ``workers`` pool processes:
    time to its first scan, memory of its pool processes, CPU per video, size of a row."""
    from scheduler.lists import Entry
    from scheduler.options import model_version
    from worker.celery_app import QUEUE, make_app

    files = [str(p.resolve()) for p in paths]
    # Workers read local files only under DFSCAN_LOCAL_ROOT: the videos' common folder.
    root = Path(files[0]).parent if len(files) == 1 else Path(os.path.commonpath(files))
    settings = settings.model_copy(update={"local_root": root})
    engine = make_engine(settings.database_url)
    try:
        check_target(settings, engine)
        client, app = _redis(settings), make_app(settings)
        version = model_version(settings)
        out: dict[str, Any] = {"videos": len(files), "workers": workers, "load_before": loadavg()}
        with worker_pool(settings, workers) as worker:
            sampler = TreeSampler(worker.proc.pid).start()
            try:
                worker.wait_ready()
                sub = _submit(
                    engine, app, (Entry(f) for f in files), queue=QUEUE, model_version=version,
                    name=f"--distributed {len(files)}", rescan=True,
                )  # fmt: skip
                drain = _drain(engine, client, worker, sub, timeout_s)
            finally:
                memory = sampler.stop()
        out.update(drain, **memory_figures(memory, in_process=False), model_version=version)
        out["seconds_to_first_scan"] = drain["first_row_after_launch_s"]
        ms = drain["worker_ms_per_task"]
        out["cpu_per_video_s"] = None if ms is None else ms / 1000
        # A real row (score, per-family explanation, timings), against a dry run's.
        out["scan_row_bytes"] = services.scan_row_bytes(engine, sub.batch_id)
        out["load_after"] = loadavg()
        return out
    finally:
        engine.dispose()
