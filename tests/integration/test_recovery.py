"""The recovery sweep on real Redis and PostgreSQL, with no worker: tasks stay where submit
put them, so what the broker holds is exactly what the test arranged."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from common.db import Scan, session_factory, session_scope
from common.settings import Settings
from scheduler.cli import main as dfscan
from scheduler.lists import Entry
from scheduler.submit import EnqueueFailed, submit
from worker import dry_run
from worker.broker import BrokerView
from worker.celery_app import QUEUE, make_app
from worker.recovery import LOST, sweep
from worker.tasks import TASK_NAME

pytestmark = pytest.mark.services

MODEL = "m-test"


@dataclass
class Rig:
    sessions: sessionmaker[Session]
    broker: BrokerView
    redis: redis.Redis
    settings: Settings
    sent: list[tuple[int, str, str]]

    def submit(self, n: int) -> dict[int, str]:
        entries = [Entry(f"http://h.test/{i}.mp4") for i in range(n)]
        app = self.broker.app
        submit(
            entries,
            sessions=self.sessions,
            sender=app,
            task_name=TASK_NAME,
            queue=QUEUE,
            model_version=MODEL,
        )
        with session_scope(self.sessions) as s:
            return dict(s.execute(select(Scan.video_id, Scan.status)).all())

    def sweep(self, **kw: object):  # type: ignore[no-untyped-def]
        def send(video_id: int, url: str, model_version: str) -> None:
            self.sent.append((video_id, url, model_version))
            self.broker.app.send_task(TASK_NAME, args=[video_id, url, model_version], queue=QUEUE)

        options = {"older_than_s": 0.0, "max_recoveries": 3, **kw}
        return sweep(self.sessions, self.broker, send, **options)  # type: ignore[arg-type]

    def queued(self) -> list[tuple[int, str | None]]:
        return sorted(self.broker.queued_keys())

    def rows(self) -> dict[int, Scan]:
        with session_scope(self.sessions) as s:
            return {r.video_id: r for r in s.scalars(select(Scan))}


@pytest.fixture
def rig(redis_url: str, postgres_url: str, pg_engine: Engine) -> Iterator[Rig]:
    settings = Settings(broker_url=redis_url, database_url=postgres_url)
    client = redis.Redis.from_url(redis_url)
    yield Rig(
        session_factory(pg_engine), BrokerView(make_app(settings), QUEUE), client, settings, []
    )
    client.close()


def test_nothing_is_sent_while_every_pending_row_has_its_task(rig: Rig) -> None:
    videos = rig.submit(6)
    found = rig.sweep()
    assert (found.stale, found.queued, found.waiting, found.resent) == (6, 6, True, [])
    assert rig.queued() == sorted((v, MODEL) for v in videos)


def test_a_wiped_queue_is_sent_again_once(rig: Rig) -> None:
    videos = rig.submit(5)
    rig.redis.flushdb()  # Redis restarted without persistence
    assert rig.queued() == []
    found = rig.sweep()
    assert sorted(found.resent) == sorted(videos) and not found.waiting
    # The queue holds one task per pending row again, with the row's own URL and model.
    assert rig.queued() == sorted((v, MODEL) for v in videos)
    assert {url for _, url, _ in rig.sent} == {f"http://h.test/{i}.mp4" for i in range(5)}
    assert all(r.recoveries == 1 and r.status == "pending" for r in rig.rows().values())
    # A second sweep finds their tasks queued: nothing sent twice.
    again = rig.sweep()
    assert again.resent == [] and again.waiting
    assert len(rig.queued()) == 5


def test_only_the_lost_tasks_are_sent_again(rig: Rig) -> None:
    rig.submit(8)
    lost = []
    for _ in range(3):  # three tasks vanish from the queue (consumed, then lost)
        message = json.loads(rig.redis.rpop(QUEUE))
        lost.append(json.loads(base64.b64decode(message["body"]))[0][0])
    found = rig.sweep()
    assert sorted(found.resent) == sorted(lost)
    assert len(rig.queued()) == 8 and len(set(rig.queued())) == 8


def test_young_rows_are_left_alone(rig: Rig) -> None:
    rig.submit(4)
    rig.redis.flushdb()
    found = rig.sweep(older_than_s=3600)
    assert (found.stale, found.resent) == (0, [])
    assert rig.queued() == []


def test_a_task_a_worker_holds_is_not_lost(rig: Rig) -> None:
    videos = rig.submit(3)
    with rig.broker.app.connection_for_write() as conn:
        # A consumer that takes one task and never acknowledges it, like a busy (or dead)
        # worker: kombu moves the message to the unacked hash.
        queue = conn.SimpleQueue(QUEUE, no_ack=False)
        taken = queue.get(timeout=5)
        held_id = taken.payload[0][0]  # Celery's protocol 2 body: [args, kwargs, embed]
        rig.redis.delete(QUEUE)  # and the rest of the queue is lost
        found = rig.sweep()
        assert [h.video_id for h in found.held] == [held_id] and held_id in videos
        assert sorted(found.resent) == sorted(v for v in videos if v != held_id)
        queue.close()


def test_a_row_that_keeps_losing_its_task_ends_failed_with_the_reason(rig: Rig) -> None:
    videos = rig.submit(2)
    for _ in range(2):
        rig.redis.flushdb()
        assert len(rig.sweep(max_recoveries=2).resent) == 2
    rig.redis.flushdb()
    found = rig.sweep(max_recoveries=2)
    assert sorted(found.failed) == sorted(videos) and found.resent == []
    for row in rig.rows().values():
        assert (row.status, row.error_code, row.recoveries) == ("failed", LOST, 2)
        assert "no result after 3 deliveries" in row.error_message
    assert rig.sweep().stale == 0


def test_dry_run_sends_nothing(rig: Rig) -> None:
    videos = rig.submit(3)
    rig.redis.flushdb()
    found = rig.sweep(dry_run=True)
    assert sorted(found.resent) == sorted(videos)
    assert rig.queued() == [] and rig.sent == []
    assert all(r.recoveries == 0 for r in rig.rows().values())


def test_a_load_tests_dry_run_rows_are_left_to_it(rig: Rig) -> None:
    # A load test's tasks wait in the dry-run queue, which the sweep does not read: it must
    # not take their rows for lost and send them to the scan queue.
    entries = [Entry(f"https://dry-run.invalid/{i}.mp4") for i in range(3)]
    submit(
        entries,
        sessions=rig.sessions,
        sender=rig.broker.app,
        task_name=TASK_NAME,
        queue=dry_run.QUEUE,
        model_version=dry_run.VERSION,
    )
    found = rig.sweep()
    assert (found.stale, found.resent, found.failed) == (0, [], [])
    assert rig.queued() == [] and rig.redis.llen(dry_run.QUEUE) == 3


def test_recover_command_after_a_submit_whose_enqueue_failed(rig: Rig) -> None:
    """The rerun case: the rows were recorded, the broker refused the tasks."""

    class DownBroker:
        def send_task(self, *args: object, **kwargs: object) -> None:
            raise ConnectionError("broker down")

    entries = [Entry(f"http://h.test/{i}.mp4") for i in range(4)]
    with pytest.raises(EnqueueFailed):
        submit(
            entries,
            sessions=rig.sessions,
            sender=DownBroker(),
            task_name=TASK_NAME,
            queue=QUEUE,
            model_version=MODEL,
        )
    env = {
        "DFSCAN_BROKER_URL": rig.settings.broker_url,
        "DFSCAN_DATABASE_URL": rig.settings.database_url,
    }
    young = CliRunner().invoke(dfscan, ["recover"], env=env)  # DFSCAN_RECOVER_AFTER_S: 300
    assert young.exit_code == 0 and "nothing to recover" in young.output
    assert rig.queued() == []
    out = CliRunner().invoke(dfscan, ["recover", "--after", "0"], env=env)
    assert out.exit_code == 0, out.output
    assert "sent again: 4 videos" in out.output
    assert len(rig.queued()) == 4


def test_recover_with_the_broker_down_is_one_line(rig: Rig) -> None:
    env = {
        "DFSCAN_BROKER_URL": "redis://:pw@127.0.0.1:1/0",
        "DFSCAN_DATABASE_URL": rig.settings.database_url,
    }
    rig.submit(1)
    out = CliRunner().invoke(dfscan, ["recover", "--after", "0"], env=env)
    assert out.exit_code == 4, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "broker unavailable at redis://:***@127.0.0.1:1/0" in lines[0]
