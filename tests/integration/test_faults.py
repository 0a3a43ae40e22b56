"""Faults an operator meets, on the real services: every batch ends with exactly one final row
per URL within a bounded wait, and nothing is lost.

- PostgreSQL stopped for 30 s mid-batch: workers keep scanning and their results wait in the
  queue (Celery retries with backoff) until the database is back;
- a worker's main process killed with SIGKILL: its task comes back after the visibility
  timeout and another worker finishes it;
- Redis restarted without persistence: the queue is lost, and the recovery sweep that beat
  runs sends the pending rows again.

scripts/test writes the control script that stops and starts its services (the
``services_ctl`` fixture). Each test prints its counts: run with ``-s`` to read them.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from _cluster import (
    Cluster,
    Corpus,
    check_rows,
    cli,
    scan_rows,
    status,
    submit,
    submit_to_busy_worker,
    unacked_video_ids,
    wait_done,
)
from click.testing import CliRunner

from common.settings import Settings
from scheduler.bench.memory import children
from scheduler.cli import main as dfscan
from worker.broker import BrokerView
from worker.celery_app import QUEUE, make_app

pytestmark = pytest.mark.services

OUTAGE_S = 30


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.1)


def _counts(name: str, rows: list, final: dict) -> None:
    """The scenario's counts, and the batch's time from its creation to its last result."""
    by = Counter(scan.status for _, scan, _ in rows)
    took = datetime.fromisoformat(final["last_update"]) - datetime.fromisoformat(
        final["created_at"]
    )
    print(
        f"FAULT {name}: {len(rows)} URLs submitted, {by['done']} done, {by['failed']} failed, "
        f"{by['pending']} pending, last result {took.total_seconds():.0f} s after submit"
    )


def test_postgres_down_30s_mid_batch(
    corpus: Corpus,
    cluster: Cluster,
    busy_list: tuple[Path, dict[str, str | None]],
    services_ctl: Callable[[str, str], None],
    postgres_url: str,
) -> None:
    list_path, expected = busy_list
    # Results wait up to 5 min; the visibility timeout outlasts a retry's countdown (30 s).
    cluster.env.update(DFSCAN_DB_WAIT_S="300", DFSCAN_VISIBILITY_TIMEOUT_S="120")
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    cluster.wait_ready("w1", "w2")
    batch_id = submit(cluster, list_path)
    _wait_for("first results", lambda: status(cluster, batch_id)["done"] >= 2)
    before = status(cluster, batch_id)
    services_ctl("postgres", "stop")
    try:
        down = time.monotonic()
        # An operator asking meanwhile reads one line, not a traceback (exit 4).
        out = CliRunner().invoke(dfscan, ["status", str(batch_id)], env=cluster.env)
        assert out.exit_code == 4, out.output
        (line,) = out.output.strip().splitlines()
        assert line.startswith("Error: database unavailable at postgresql+psycopg://")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down)))
    finally:
        services_ctl("postgres", "start")

    final = wait_done(cluster, batch_id)
    rows = scan_rows(postgres_url, batch_id)
    check_rows(rows, expected, corpus.model_version)
    assert before["pending"] > 5, "the outage struck mid-batch"
    logs = cluster.log("w1") + cluster.log("w2")
    waited = logs.count("database unavailable, video")
    assert waited > 0, "results waited for the database"
    assert "ResultNotStored" not in logs
    _counts(f"postgres down {OUTAGE_S} s ({waited} write retries)", rows, final)


def test_worker_main_process_sigkilled(
    corpus: Corpus,
    cluster: Cluster,
    busy_list: tuple[Path, dict[str, str | None]],
    redis_url: str,
    postgres_url: str,
) -> None:
    list_path, expected = busy_list
    victim, batch_id = submit_to_busy_worker(cluster, list_path, "victim", redis_url)
    (child,) = children(victim.pid)
    os.kill(victim.pid, signal.SIGKILL)  # kill -9 of the main process alone
    victim.wait()
    # Its pool child goes with it (Celery sets PDEATHSIG), holding a task no one acks.
    _wait_for("the pool child's end", lambda: not Path(f"/proc/{child}").exists(), 10)
    in_flight = unacked_video_ids(redis_url)
    assert in_flight, "the victim died holding an unacknowledged task"
    assert status(cluster, batch_id)["pending"] > 1, "killed mid-batch"

    # What the operator sees: STALLED with the recovery command, and `dfscan recover`
    # naming the task a (dead) worker holds, sending nothing: the queue holds the rest.
    time.sleep(1.5)
    out = cli(cluster.env, "status", str(batch_id), "--stall-after", "1")
    assert "STALLED" in out and "dfscan recover" in out, out
    found = json.loads(cli(cluster.env, "recover", "--after", "0", "--json"))
    assert {h["video_id"] for h in found["held"]} == in_flight
    assert found["resent"] == [] and found["failed"] == []

    cluster.start_worker("w1")
    cluster.start_worker("w2")
    final = wait_done(cluster, batch_id)
    rows = scan_rows(postgres_url, batch_id)
    check_rows(rows, expected, corpus.model_version)
    assert all(scan.status in ("done", "failed") for _, scan, v in rows if v.id in in_flight)
    assert unacked_video_ids(redis_url) == set()
    _counts("worker main process SIGKILLed", rows, final)


def test_redis_restarted_without_persistence(
    corpus: Corpus,
    cluster: Cluster,
    busy_list: tuple[Path, dict[str, str | None]],
    services_ctl: Callable[[str, str], None],
    redis_url: str,
    postgres_url: str,
) -> None:
    list_path, expected = busy_list
    cluster.env.update(DFSCAN_RECOVER_EVERY_S="2", DFSCAN_RECOVER_AFTER_S="5")
    cluster.start_worker("w1")
    cluster.start_beat()
    cluster.wait_ready("w1")
    broker = BrokerView(make_app(Settings(broker_url=redis_url)), QUEUE)
    batch_id = submit(cluster, list_path)
    _wait_for("first results", lambda: status(cluster, batch_id)["done"] >= 2)
    queued = broker.queued()
    services_ctl("redis", "restart")  # every queued and unacknowledged task is gone
    assert queued > 5, "the restart struck mid-batch, with tasks queued"

    final = wait_done(cluster, batch_id)
    rows = scan_rows(postgres_url, batch_id)
    check_rows(rows, expected, corpus.model_version)
    recovered = [scan for _, scan, _ in rows if scan.recoveries > 0]
    # The worker may have taken one more task between the count and the restart.
    assert len(recovered) >= queued - 1, "the lost tasks were sent again by the sweep"
    assert "lost tasks again" in cluster.log("w1")
    _counts(
        f"redis restarted, {queued} queued tasks lost, {len(recovered)} sent again", rows, final
    )
