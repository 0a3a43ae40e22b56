"""What a queue benchmark reads off Redis, Postgres and the kernel: memory, commands, CPU,
write-ahead log, table sizes.

Redis reports its own CPU, memory and command count (``INFO``). Postgres reports its WAL
position and table sizes; the CPU of its backends is read from ``/proc`` when the server
runs on this machine (else None). Process CPU is ``utime + stime`` of ``/proc/PID/stat``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from scheduler.bench.memory import descendants

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
TABLES = ("videos", "batch_items", "scans")


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a live process; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (a worker and its pool)."""
    return sum(c for p in [pid, *descendants(pid)] if (c := process_cpu(p)) is not None)


@dataclass(frozen=True, slots=True)
class RedisStats:
    used_memory: int  # bytes
    commands: int  # total_commands_processed
    cpu_s: float  # the server's own, user + system


def redis_stats(client: Any) -> RedisStats:
    info = client.info()
    return RedisStats(
        used_memory=int(info["used_memory"]),
        commands=int(info["total_commands_processed"]),
        cpu_s=float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
    )


def wal_position(engine: Engine) -> str | None:
    """Postgres's current write-ahead log position (None on another database)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return str(conn.scalar(text("SELECT pg_current_wal_lsn()")))


def wal_bytes(engine: Engine, start: str | None, end: str | None) -> int | None:
    if start is None or end is None:
        return None
    with engine.connect() as conn:
        diff = conn.scalar(
            text("SELECT pg_wal_lsn_diff(:end, :start)"), {"end": end, "start": start}
        )
    return int(diff)


def backend_cpu(engine: Engine) -> float | None:
    """CPU seconds of the Postgres backends serving other clients of this database (the
    workers), when they run on this machine; None when they cannot be read."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = conn.scalars(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    total, seen = 0.0, 0
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
                continue  # another machine's process, or another pid namespace's
        except OSError:
            continue
        if (cpu := process_cpu(pid)) is not None:
            total, seen = total + cpu, seen + 1
    return total if seen else None


def table_bytes(engine: Engine) -> int | None:
    """Bytes of the tables a batch writes, indexes included (Postgres only)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return sum(
            int(conn.scalar(text("SELECT pg_total_relation_size(:t)"), {"t": t})) for t in TABLES
        )


def scan_row_bytes(engine: Engine, batch_id: int) -> float | None:
    """Mean size of a batch's ``scans`` rows as Postgres holds them (``pg_column_size`` of
    the row; indexes not included): what a result costs to keep, without the fixed pages
    every table and index starts with, which dominate a small run's table sizes."""
    if engine.dialect.name != "postgresql":
        return None
    query = text(
        "SELECT avg(pg_column_size(s.*)) FROM scans s "
        "JOIN batch_items b ON b.video_id = s.video_id WHERE b.batch_id = :batch"
    )
    with engine.connect() as conn:
        mean = conn.scalar(query, {"batch": batch_id})
    return None if mean is None else float(mean)
