"""The Celery application for the distributed mode: Redis broker, scan results in Postgres.

Delivery is at-least-once by design: a task is acknowledged only after its result is written
(``acks_late``; while the database is away the result waits in the queue, see
``worker.tasks``), a worker that dies mid-scan hands its task back (``reject_on_worker_lost``,
and Redis redelivers unacknowledged tasks after the visibility timeout), the recovery sweep
(``worker.recovery``, run by beat) sends again the rows whose task was lost, and the write is
an idempotent upsert keyed by (video, model version), so a task that runs twice leaves one
row.
"""

from __future__ import annotations

import logging

from celery import Celery

from common.settings import Settings
from worker import recovery
from worker.tasks import BACKOFF_CAP_S, TASK_NAME, register

log = logging.getLogger(__name__)

QUEUE = "dfscan"

# Margin over the scanner's own per-video limit before Celery steps in: the soft limit lets
# the task record a timeout row; the hard limit kills a child stuck in native code.
SOFT_LIMIT_MARGIN_S = 60.0
HARD_LIMIT_MARGIN_S = 30.0
# Slack over the longest a healthy worker holds a task unacknowledged, before Redis gives it
# to another worker.
REDELIVERY_MARGIN_S = 60.0


def time_limits(settings: Settings) -> tuple[float, float]:
    soft = settings.timeout_s + SOFT_LIMIT_MARGIN_S
    return soft, soft + HARD_LIMIT_MARGIN_S


def visibility_timeout(settings: Settings) -> float:
    """Seconds before Redis redelivers an unacknowledged task to another worker.

    Derived from the task time limit: a healthy worker holds a task at most while a retry
    waits out its countdown (ETA tasks are held unacknowledged; at most ``BACKOFF_CAP_S``)
    and then runs it (at most the hard limit). Past that plus a margin its worker is taken
    for dead, and a killed worker's task comes back that soon (1050 s with the default
    600 s scan limit). An explicit setting wins (tests use a short one).
    """
    hard = time_limits(settings)[1]
    if settings.visibility_timeout_s is not None:
        if settings.visibility_timeout_s < hard:
            log.warning(
                "DFSCAN_VISIBILITY_TIMEOUT_S=%s is below the task time limit (%s s): a slow "
                "scan may be handed to a second worker and run twice",
                settings.visibility_timeout_s,
                hard,
            )
        return settings.visibility_timeout_s
    return hard + BACKOFF_CAP_S + REDELIVERY_MARGIN_S


def transport_options(settings: Settings) -> dict[str, float | int]:
    vt = visibility_timeout(settings)
    return {
        "visibility_timeout": vt,
        # Kombu sweeps for overdue unacked tasks every interval x throttle seconds (100 s by
        # default); sweep on every tick, and tick often enough for a short timeout.
        "unacked_restore_interval": max(1, int(min(10.0, vt / 4))),
        "unacked_restore_throttle": 1,
    }


def make_app(settings: Settings) -> Celery:
    """A Celery app configured from settings, with the scan task registered on it."""
    if not settings.broker_url:
        raise ValueError("the distributed mode needs a broker: set DFSCAN_BROKER_URL")
    soft, hard = time_limits(settings)
    app = Celery("dfscan", broker=settings.broker_url, backend=settings.result_backend)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One task in hand per process: scans are long, so prefetching only starves the
        # other workers and strands tasks on a node that dies.
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.workers,
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        # Results live in the database; a result backend is optional (Flower does not need it).
        task_ignore_result=settings.result_backend is None,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        # Events let Flower show tasks in flight.
        worker_send_task_events=True,
        task_send_sent_event=True,
        # Beat (dfscan beat) only sends the recovery sweep at an interval: no state to keep
        # in a schedule file.
        beat_scheduler="celery.beat:Scheduler",
    )
    register(app, settings)
    recovery.register(app, settings, QUEUE, TASK_NAME)
    return app
