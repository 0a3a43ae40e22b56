"""The Celery configuration the delivery guarantees rest on (no broker needed to build it)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from common.settings import Settings
from scheduler.commands.distributed import standalone
from worker.celery_app import make_app, time_limits, visibility_timeout
from worker.tasks import TASK_NAME


def test_app_settings() -> None:
    settings = Settings(broker_url="redis://127.0.0.1:1/0", workers=3, timeout_s=900)
    app = make_app(settings)
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_concurrency == 3
    soft, hard = time_limits(settings)
    assert settings.timeout_s < soft < hard == conf.task_time_limit
    # Redis must not hand a running scan to a second worker.
    vt = conf.broker_transport_options["visibility_timeout"]
    assert vt == visibility_timeout(settings) > hard
    assert TASK_NAME in app.tasks


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
