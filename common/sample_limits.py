"""Limits every frame reader enforces: pixels per frame, clip duration and a deadline.

Built from Settings by the caller (common.extract) and checked by the readers in
common.frames and common.av_frames before they decode.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from common.errors import ScanTimeout, TooLarge


@dataclass(frozen=True, slots=True)
class SampleLimits:
    """Limits a sampler enforces; built from Settings by the caller."""

    max_pixels: int = 4096 * 4096
    max_duration_s: float = 4 * 3600.0
    deadline: float | None = None  # time.monotonic() value after which to stop

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ScanTimeout("per-video time limit exceeded while decoding")


def check_pixels(width: int, height: int, limits: SampleLimits, what: object) -> None:
    if width * height > limits.max_pixels:
        raise TooLarge(
            f"{what}: {width}x{height} frames exceed the limit of {limits.max_pixels} pixels",
            code="frame_too_large",
        )


def check_duration(total: int, fps: float, limits: SampleLimits, what: object) -> None:
    if total > 0 and total / fps > limits.max_duration_s:
        raise TooLarge(
            f"{what}: {total / fps:.0f} s is over the limit of {limits.max_duration_s:.0f} s",
            code="too_long",
        )


def sane_fps(fps: float | None) -> float:
    """A container's frame rate, or 25 when it announces none or nonsense."""
    if fps is None or not math.isfinite(fps) or fps <= 0 or fps > 1000:
        return 25.0
    return float(fps)
