"""The Celery application for the distributed mode: Redis broker, scan results in Postgres.

Delivery is at-least-once by design: a task is acknowledged only after its result is written
(``acks_late``), a worker that dies mid-scan hands its task back (``reject_on_worker_lost``,
and Redis redelivers unacknowledged tasks after the visibility timeout), and the write is an
idempotent upsert keyed by (video, model version), so a task that runs twice leaves one row.
"""

from __future__ import annotations

from celery import Celery

from common.settings import Settings
from worker.tasks import register

QUEUE = "dfscan"

# Margin over the scanner's own per-video limit before Celery steps in: the soft limit lets
# the task record a timeout row; the hard limit kills a child stuck in native code.
SOFT_LIMIT_MARGIN_S = 60.0
HARD_LIMIT_MARGIN_S = 30.0


def time_limits(settings: Settings) -> tuple[float, float]:
    soft = settings.timeout_s + SOFT_LIMIT_MARGIN_S
    return soft, soft + HARD_LIMIT_MARGIN_S


def visibility_timeout(settings: Settings) -> float:
    """Seconds before Redis redelivers an unacknowledged task to another worker.

    It must exceed the longest scan plus retry countdowns (ETA tasks are held unacked),
    or a healthy but slow worker's task is run twice. An explicit setting wins (tests use a
    short one so a killed worker's task comes back quickly).
    """
    if settings.visibility_timeout_s is not None:
        return settings.visibility_timeout_s
    return max(3600.0, 2 * time_limits(settings)[1])


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
    )
    register(app, settings)
    return app
