"""What the Redis broker holds of dfscan's scan tasks: queued, and delivered but unacknowledged.

Read from the keys of kombu's Redis transport through its own channel (so its key names,
priority lists and any ``global_keyprefix`` are kombu's): the queue is one Redis list per
priority step; a message delivered to a worker moves to the ``unacked`` hash, with its
delivery time in the ``unacked_index`` sorted set, until the worker acknowledges it or, once
the visibility timeout passes without that, kombu puts it back in the queue.

A task in either place is *live*; a pending row with neither has lost its task.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celery import Celery

from worker.tasks import TASK_NAME

TaskKey = tuple[int, str | None]  # (video id, model version) of a scan task
PAGE = 1000


@dataclass(frozen=True, slots=True)
class Held:
    """A scan task a worker took and has not acknowledged: it runs, waits to retry, or its
    worker died (then Redis hands it back after the visibility timeout)."""

    video_id: int
    model_version: str | None
    delivered_at: float  # epoch seconds


def _queue_keys(channel: Any, queue: str) -> list[str]:
    # kombu's Channel._q_for_pri, from the channel's public attributes.
    return [queue] + [f"{queue}{channel.sep}{p}" for p in channel.priority_steps if p]


def task_key(channel: Any, message: dict[str, Any]) -> TaskKey | None:
    """(video id, model version) of a scan task in kombu's envelope; None for other tasks."""
    if (message.get("headers") or {}).get("task") != TASK_NAME:
        return None
    body = channel.decode_body(message["body"], message["properties"].get("body_encoding"))
    args, kwargs, _ = json.loads(body)  # Celery's task protocol 2
    model_version = args[2] if len(args) > 2 else kwargs.get("model_version")
    return int(args[0]), model_version


class BrokerView:
    """Reads the queue and the unacknowledged tasks of ``queue`` through ``app``'s broker."""

    def __init__(self, app: Celery, queue: str) -> None:
        self.app, self.queue = app, queue

    def _channel(self) -> tuple[Any, Any]:
        conn = self.app.connection_for_read()
        return conn, conn.default_channel

    def queued(self) -> int:
        conn, channel = self._channel()
        with conn:
            return sum(channel.client.llen(k) for k in _queue_keys(channel, self.queue))

    def queued_keys(self) -> Iterator[TaskKey]:
        """The scan tasks waiting in the queue, page by page."""
        conn, channel = self._channel()
        with conn:
            for key in _queue_keys(channel, self.queue):
                start = 0
                while page := channel.client.lrange(key, start, start + PAGE - 1):
                    for raw in page:
                        if (found := task_key(channel, json.loads(raw))) is not None:
                            yield found
                    start += PAGE

    def held(self) -> list[Held]:
        """Every scan task delivered to a worker and not acknowledged yet."""
        conn, channel = self._channel()
        with conn:
            client = channel.client
            since = dict(client.zrange(channel.unacked_index_key, 0, -1, withscores=True))
            out = []
            for tag, raw in client.hgetall(channel.unacked_key).items():
                message = json.loads(raw)[0]  # [message, exchange, routing key]
                if (found := task_key(channel, message)) is not None:
                    out.append(Held(*found, delivered_at=float(since.get(tag, 0.0))))
            return out
