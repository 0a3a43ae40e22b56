"""Fault test "a bad list", on real Redis and PostgreSQL: ``dfscan submit`` as an operator
runs it, in its own process. A bad list ends with exit status 2, one line naming the file,
the line and the reason, and nothing recorded or enqueued; a good one records its batch in
one transaction and then enqueues every video."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from common.db import Batch, BatchItem, Scan, Video, session_factory, session_scope

pytestmark = pytest.mark.services

_SCRIPT = Path(sys.executable).parent / "dfscan"
QUEUE = "dfscan"

GOOD = b"".join(b"https://media.example/v/%d.mp4\n" % i for i in range(1500))
# name, bytes, the line the error must name, words of the reason.
BAD = [
    ("junk.txt", GOOD + b"\x8f\xa0\x00\xff\x13garbage\n", 1501, "binary data"),
    ("latin1.txt", GOOD + "café.mp4\n".encode("latin-1"), 1501, "not UTF-8"),
    ("nourl.csv", b"name,label\nhttps://media.example/a.mp4,fake\n", 1, "'url' or 'path'"),
    ("binary.txt", bytes(range(256)) * 4, 1, "binary data"),
    ("garbage.txt", b"".join(b"x%dq!~ zz\n" % i for i in range(10_000)), 1, "blocked_path"),
    ("local.txt", GOOD + b"file:///etc/passwd\n", 1501, "blocked_scheme"),
    ("gopher.jsonl", b'{"url": "gopher://h/x.mp4"}\n', 1, "blocked_scheme"),
]


def _submit(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [str(_SCRIPT), "submit", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


def _env(postgres_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFSCAN_")}
    env.update(DFSCAN_DATABASE_URL=postgres_url, DFSCAN_BROKER_URL=redis_url)
    return env


def _counts(engine: Engine) -> tuple[int, ...]:
    with session_scope(session_factory(engine)) as s:
        models = (Batch, BatchItem, Video, Scan)
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in models)


def test_bad_lists_record_and_enqueue_nothing(
    pg_engine: Engine, redis_url: str, tmp_path: Path
) -> None:
    env = _env(pg_engine.url.render_as_string(hide_password=False), redis_url)
    broker = redis.Redis.from_url(redis_url)
    try:
        for name, content, line, words in BAD:
            path = tmp_path / name
            path.write_bytes(content)
            proc = _submit([str(path)], env)
            assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
            (message,) = proc.stderr.strip().splitlines()  # one line, no traceback
            assert message.startswith(f"Error: {path}:{line}: "), (name, message)
            assert words in message, (name, message)
            assert proc.stdout == ""
            assert _counts(pg_engine) == (0, 0, 0, 0), name
            assert broker.llen(QUEUE) == 0 and broker.dbsize() == 0, name
        # The same 1,500 lines alone are a good list: one batch, every video enqueued.
        good = tmp_path / "good.txt"
        good.write_bytes(GOOD)
        proc = _submit([str(good)], env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("batch 1: 1500 listed, 1500 enqueued")
        assert _counts(pg_engine) == (1, 1500, 1500, 1500)
        assert broker.llen(QUEUE) == 1500
    finally:
        broker.close()


def test_services_down_are_one_line_exit_4_and_a_rerun_enqueues_all(
    pg_engine: Engine, redis_url: str, tmp_path: Path
) -> None:
    from _media import closed_port

    good = tmp_path / "good.txt"
    n = 100
    good.write_bytes(b"".join(GOOD.splitlines(keepends=True)[:n]))
    db = pg_engine.url.render_as_string(hide_password=False)
    dead_db = pg_engine.url.set(port=closed_port()).render_as_string(hide_password=False)
    dead_broker = f"redis://127.0.0.1:{closed_port()}/0"
    broker = redis.Redis.from_url(redis_url)
    try:
        outages = [(_env(db, dead_broker), "broker"), (_env(dead_db, redis_url), "database")]
        for env, what in outages:
            proc = _submit([str(good)], env)
            assert proc.returncode == 4, (what, proc.stderr)
            (message,) = proc.stderr.strip().splitlines()
            assert message.startswith(f"Error: {what} unavailable at "), message
            assert _counts(pg_engine) == (0, 0, 0, 0) and broker.dbsize() == 0, what
        # Submitted again once both answer: nothing was half-recorded, so all is enqueued.
        proc = _submit([str(good)], _env(db, redis_url))
        assert proc.returncode == 0, proc.stderr
        assert f"{n} listed, {n} enqueued" in proc.stdout
        assert broker.llen(QUEUE) == n
    finally:
        broker.close()
