"""What the decoder really did while a block ran: frames decoded and delivered, bytes read.

The frame readers (common.frames) add to the stats of the innermost :func:`collect_decode_stats`
block; outside one they count into a throw-away object. Used by ``dfscan bench``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(slots=True)
class DecodeStats:
    """What the decoder really did, summed over the videos read while collecting."""

    frames_decoded: int = 0  # pictures the decoder reconstructed (skipped ones not counted)
    frames_delivered: int = 0  # of which handed to the caller (the sampled frames)
    bytes_read: int = 0  # compressed bytes demuxed (index pass + decode pass)
    seeks: int = 0
    strategy: str = ""


_STATS: contextvars.ContextVar[DecodeStats | None] = contextvars.ContextVar(
    "dfscan_decode_stats", default=None
)


@contextlib.contextmanager
def collect_decode_stats() -> Iterator[DecodeStats]:
    """Count decoded frames and bytes for everything read inside the block (benchmarks)."""
    stats = DecodeStats()
    token = _STATS.set(stats)
    try:
        yield stats
    finally:
        _STATS.reset(token)


def current_stats() -> DecodeStats:
    """The stats of the innermost collecting block (a throw-away one outside any)."""
    return _STATS.get() or DecodeStats()
