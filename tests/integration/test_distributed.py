"""End to end on real services: submit a list, real Celery workers scan it into Postgres.

The deployment (media over HTTP and S3, a tiny bundle, workers started through the CLI) is
tests/_cluster.py, its fixtures in tests/conftest.py; the faults an operator meets (database
and broker outages, a killed worker) are in test_faults.py.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from _cluster import (
    BAD,
    UNREACHABLE,
    Cluster,
    Corpus,
    check_rows,
    cli,
    scan_rows,
    submit,
    submit_to_busy_worker,
    unacked_video_ids,
    upload,
    wait_done,
    write_list,
)

from scheduler.bench.memory import children

pytestmark = pytest.mark.services


def test_batch_through_two_workers(
    corpus: Corpus,
    cluster: Cluster,
    http_base: str,
    s3_bucket: str,
    s3_endpoint: str,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    upload(corpus, s3_endpoint, s3_bucket)
    expected = write_list(corpus, http_base, s3_bucket, tmp_path / "list.jsonl")
    assert len(expected) >= 20
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    cluster.wait_ready("w1", "w2")
    batch_id = submit(cluster, tmp_path / "list.jsonl")

    st = wait_done(cluster, batch_id)
    assert (st["total"], st["done"], st["failed"]) == (len(expected), len(expected) - 3, 3)
    rows = scan_rows(postgres_url, batch_id)
    check_rows(rows, expected, corpus.model_version)
    # The transient error was retried (task_max_retries=1) before it was recorded.
    dead = next(s for u, s, _ in rows if expected[u] == UNREACHABLE)
    assert "gave up after 2 attempts" in dead.error_message
    # Permanent errors were recorded once and never retried; only the dead URL was.
    assert all(s.attempts == 1 for u, s, _ in rows if expected[u] in BAD.values())
    logs = cluster.log("w1") + cluster.log("w2")
    retried = {u for u in expected if f"retrying {u} " in logs}
    assert retried == {u for u, code in expected.items() if code == UNREACHABLE}
    # Both workers took part, and each loaded the model once, in its main process before
    # the pool forked (the pool process shares it).
    for name in ("w1", "w2"):
        log = cluster.log(name)
        assert log.count("model tiny-test-") == 1, log[-2000:]
        assert f"loaded in process {cluster.workers[name].pid}\n" in log, log[-2000:]
        assert "succeeded" in log, log[-2000:]

    # FAR/FRR from the report are what the stored verdicts and ground truth imply.
    scored = [(v.label, s.label) for _, s, v in rows if s.status == "done"]
    fakes = [verdict for truth, verdict in scored if truth == "fake"]
    reals = [verdict for truth, verdict in scored if truth == "real"]
    report = json.loads(cli(cluster.env, "report", str(batch_id), "--json"))
    assert report["far"] == pytest.approx(fakes.count("real") / len(fakes))
    assert report["frr"] == pytest.approx(reals.count("fake") / len(reals))
    assert (report["labelled_fake"], report["labelled_real"]) == (len(fakes), len(reals))
    assert report["errors"] == {"empty_file": 1, "unreadable": 1, UNREACHABLE: 1}
    assert report["eer"] is not None

    flagged = json.loads(cli(cluster.env, "flagged", "--batch", str(batch_id), "--format", "json"))
    want = sorted(u for u, s, _ in rows if s.label == "fake")
    assert want, "the fitted model flags its fake training clips"
    assert sorted(r["url"] for r in flagged) == want
    assert [r["score"] for r in flagged] == sorted((r["score"] for r in flagged), reverse=True)

    # Submitting the same list again enqueues nothing: every URL has a row for this model.
    out = cli(cluster.env, "submit", str(tmp_path / "list.jsonl"))
    assert " 0 enqueued" in out


def test_batch_survives_a_pool_child_killed_alone(
    corpus: Corpus,
    cluster: Cluster,
    busy_list: tuple[Path, dict[str, str | None]],
    redis_url: str,
    postgres_url: str,
) -> None:
    # The pool process dies mid-scan (a decoder crash, the OOM killer) while the worker's
    # main process lives on: the task must come back (acks_late + reject_on_worker_lost),
    # a new child must take over, and the batch must end with one row per URL.
    list_path, expected = busy_list
    worker, batch_id = submit_to_busy_worker(cluster, list_path, "solo", redis_url)
    (child,) = children(worker.pid)
    in_flight = unacked_video_ids(redis_url)
    os.kill(child, signal.SIGKILL)

    wait_done(cluster, batch_id)
    assert worker.poll() is None, "the worker's main process went down with its child"
    assert child not in children(worker.pid)
    assert "WorkerLostError" in cluster.log("solo")
    # The replacement was forked with the model its parent loaded: no second load.
    assert cluster.log("solo").count("model tiny-test-") == 1
    rows = scan_rows(postgres_url, batch_id)
    check_rows(rows, expected, corpus.model_version)
    lost = [s for _, s, v in rows if v.id in in_flight]
    assert lost and all(s.status in ("done", "failed") for s in lost)
    assert unacked_video_ids(redis_url) == set()
