"""`dfscan bench --queue-load` and `--distributed` on real Redis and PostgreSQL: the dry-run
tasks go through a real worker, are marked and never scored, and the scan queue is left
alone; a database that holds real batches is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from _cluster import Corpus
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from common.db import Batch, Scan, session_factory, session_scope
from common.settings import Settings
from models.bundle import bundle_digest
from scheduler.cli import main as dfscan
from worker import dry_run
from worker.celery_app import QUEUE, make_app
from worker.tasks import TASK_NAME

pytestmark = pytest.mark.services

# A dry-run scans row (no score, explanation or timings) is under this; a real one is over.
DRY_ROW_BYTES = 300


def bench(redis_url: str, postgres_url: str, *args: str, **env: str):  # type: ignore[no-untyped-def]
    env = {"DFSCAN_BROKER_URL": redis_url, "DFSCAN_DATABASE_URL": postgres_url, **env}
    argv = ["bench", "--json", "--queue-workers", "2", "--queue-timeout", "120", *args]
    return CliRunner().invoke(dfscan, argv, env=env)


def test_queue_load_drains_dry_run_tasks_through_a_real_worker(
    redis_url: str, postgres_url: str, pg_engine: Engine
) -> None:
    # A real scan task waits in the scan queue: the dry-run worker must not take it.
    make_app(Settings(broker_url=redis_url)).send_task(
        TASK_NAME, args=[1, "http://h.test/real.mp4", "m-real"], queue=QUEUE
    )
    res = bench(redis_url, postgres_url, "--queue-load", "300")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    drain = out["drain"]
    assert drain["complete"] and drain["rows_written"] == 300, drain
    with session_scope(session_factory(pg_engine)) as s:
        kinds = s.execute(
            select(Scan.model_version, Scan.status, Scan.error_code, func.count()).group_by(
                Scan.model_version, Scan.status, Scan.error_code
            )
        ).all()
        scored = s.scalar(select(func.count()).where(Scan.score.is_not(None)))
        (batch,) = s.scalars(select(Batch)).all()
    assert kinds == [(dry_run.VERSION, "failed", dry_run.CODE, 300)] and scored == 0
    assert batch.source.startswith("dfscan bench") and batch.model_version == dry_run.VERSION
    client = redis.Redis.from_url(redis_url)
    assert (client.llen(QUEUE), client.llen(dry_run.QUEUE)) == (1, 0)
    # The figures hang together.
    assert out["submit"]["db_rows_per_s"] > 0 and out["submit"]["enqueued_per_s"] > 0
    assert out["submit"]["wal_bytes_per_task"] > 0 and drain["wal_bytes_per_task"] > 0
    assert out["queue"]["message_bytes"] > 100 and out["queue"]["redis_bytes_per_task"] > 100
    assert drain["tasks_per_s"] > 0 and drain["worker_ms_per_task"] > 0
    assert drain["worker_wall_ms_per_task"] == pytest.approx(2000 / drain["tasks_per_s"])
    # Each task is at least taken from the queue and acknowledged.
    assert drain["redis_commands_per_task"] >= 2 and drain["redis_cpu_ms_per_task"] > 0
    assert drain["postgres_cpu_ms_per_task"] > 0  # Postgres runs on this machine
    assert out["storage_bytes_per_video"] > 100
    # A dry-run row has no score, explanation or timings.
    assert 100 < out["scan_row_bytes"] < DRY_ROW_BYTES


def test_queue_load_refuses_a_database_with_real_batches(
    redis_url: str, postgres_url: str, pg_engine: Engine
) -> None:
    with session_scope(session_factory(pg_engine)) as s:
        s.add(Batch(name="real", source="list.txt", model_version="m"))
    res = bench(redis_url, postgres_url, "--queue-load", "10")
    assert res.exit_code == 1
    assert "holds 1 batches that no benchmark made" in res.output
    assert redis.Redis.from_url(redis_url).llen(dry_run.QUEUE) == 0


def test_distributed_scans_through_a_worker_that_shares_its_model(
    corpus: Corpus, redis_url: str, postgres_url: str
) -> None:
    clips = [str(corpus.root / f"clip{i:02d}.mp4") for i in range(4)]
    model = {"DFSCAN_MODEL_PATH": str(corpus.bundle)}
    model["DFSCAN_MODEL_SHA256"] = bundle_digest(corpus.bundle)
    res = bench(redis_url, postgres_url, "--distributed", "--frames", "6", *clips, **model)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["complete"] and out["rows_written"] == 4
    assert out["model_version"] == corpus.model_version
    assert 0 < out["worker_ready_s"] < out["seconds_to_first_scan"]
    assert out["cpu_per_video_s"] > 0
    # A real row holds the score, the families' explanation and the timings.
    assert out["scan_row_bytes"] > DRY_ROW_BYTES
    # Two pool processes, forked after the model was loaded: their pages mostly shared.
    assert out["memory_samples"] >= 1
    assert out["uss_mb_per_worker"] < 0.5 * out["rss_mb_per_worker"]
    assert out["pss_mb_per_worker"] < out["total_pss_mb"]


def test_submit_dry_run_sends_to_the_dry_run_queue_only(
    redis_url: str, postgres_url: str, pg_engine: Engine, tmp_path: Path
) -> None:
    listed = tmp_path / "load.txt"
    listed.write_text("".join(f"https://dry-run.invalid/{i}.mp4\n" for i in range(5)))
    env = {"DFSCAN_BROKER_URL": redis_url, "DFSCAN_DATABASE_URL": postgres_url}
    out = CliRunner().invoke(dfscan, ["submit", "--dry-run", str(listed)], env=env)
    assert out.exit_code == 0, out.output
    assert "5 enqueued" in out.output and f"(model {dry_run.VERSION})" in out.output
    client = redis.Redis.from_url(redis_url)
    assert (client.llen(QUEUE), client.llen(dry_run.QUEUE)) == (0, 5)
    with session_scope(session_factory(pg_engine)) as s:
        (batch,) = s.scalars(select(Batch)).all()
        versions = set(s.scalars(select(Scan.model_version)))
    assert batch.name == "dry run: load.txt" and versions == {dry_run.VERSION}
    both = ["submit", "--dry-run", "--model-version", "m1", str(listed)]
    refused = CliRunner().invoke(dfscan, both, env=env)
    assert refused.exit_code == 2 and "no --model-version" in refused.output
