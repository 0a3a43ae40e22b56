"""The Celery configuration the delivery guarantees rest on (no broker needed to build it)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from common.settings import Settings
from scheduler.commands.distributed import standalone
from worker.celery_app import make_app, time_limits, visibility_timeout
from worker.recovery import RECOVER_TASK
from worker.tasks import BACKOFF_CAP_S, TASK_NAME


def test_time_limits_leave_room_for_the_scan_and_redelivery_waits_for_them() -> None:
    settings = Settings(broker_url="redis://127.0.0.1:1/0", workers=3, timeout_s=900)
    app = make_app(settings)
    soft, hard = time_limits(settings)
    # The scanner's own limit fires first, then Celery's soft limit (a timeout row), then
    # the hard kill; Redis must not hand a running scan to a second worker before that.
    assert settings.timeout_s < soft < hard == app.conf.task_time_limit
    assert app.conf.broker_transport_options["visibility_timeout"] > hard
    longer = Settings(broker_url="redis://127.0.0.1:1/0", timeout_s=5000)
    assert visibility_timeout(longer) > time_limits(longer)[1] > 5000
    # The task the app runs retries as the settings say (see test_tasks for the behaviour).
    assert app.tasks[TASK_NAME].max_retries == settings.task_max_retries


def test_visibility_timeout_follows_the_time_limit_not_an_hour() -> None:
    # A killed worker's task comes back once no healthy worker could still hold it: a retry
    # waiting out its longest countdown, then running to the hard limit.
    for timeout_s in (60, 600, 3000):
        settings = Settings(broker_url="redis://127.0.0.1:1/0", timeout_s=timeout_s)
        hard = time_limits(settings)[1]
        vt = visibility_timeout(settings)
        assert hard + BACKOFF_CAP_S < vt <= hard + BACKOFF_CAP_S + 120
    assert visibility_timeout(Settings(broker_url="redis://127.0.0.1:1/0")) == 1050


def test_beat_sends_the_recovery_sweep() -> None:
    settings = Settings(broker_url="redis://127.0.0.1:1/0", recover_every_s=45)
    app = make_app(settings)
    (entry,) = app.conf.beat_schedule.values()
    assert entry["task"] == RECOVER_TASK and RECOVER_TASK in app.tasks
    assert entry["schedule"] == 45
    # On a queue of its own (workers consume it too), dropped if not run before the next.
    assert entry["options"] == {"queue": "dfscan.recover", "expires": 45}


def test_visibility_timeout_override() -> None:
    settings = Settings(broker_url="redis://127.0.0.1:1/0", visibility_timeout_s=8)
    opts = make_app(settings).conf.broker_transport_options
    assert opts["visibility_timeout"] == 8
    assert opts["unacked_restore_interval"] <= 8 / 2


def test_no_broker_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DFSCAN_BROKER_URL", raising=False)
    with pytest.raises(ValueError):
        make_app(Settings())
    out = CliRunner().invoke(standalone, ["worker"])
    assert out.exit_code == 1 and "DFSCAN_BROKER_URL" in out.output
