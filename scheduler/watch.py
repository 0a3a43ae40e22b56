"""``dfscan status`` lines, and ``--watch``: one line per interval until nothing is pending.

A batch that stops moving says so: a STALLED line when no result landed for a while although
rows are pending, with the command that sends lost tasks again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from scheduler.outages import Unavailable
from scheduler.report import RATE_WINDOW_S, BatchStatus

RECOVER_COMMAND = "dfscan recover"


def duration(seconds: float) -> str:
    """A short human duration: 42s, 5m12s, 3h04m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def status_line(st: BatchStatus) -> str:
    average = "-" if st.videos_per_s is None else f"{st.videos_per_s:.2f}"
    eta = "-" if st.eta_s is None else duration(st.eta_s)
    return (
        f"batch {st.batch_id} {st.name!r} (model {st.model_version}): {st.total} videos, "
        f"{st.done} done, {st.failed} failed, {st.pending} pending; "
        f"{st.rate_1m:.2f} videos/s over the last {RATE_WINDOW_S:.0f} s ({average} on "
        f"average), ETA {eta}"
    )


def stalled_line(st: BatchStatus, visibility_timeout_s: float) -> str:
    return (
        f"STALLED: no result for {duration(st.idle_s)} while {st.pending} videos are pending. "
        f"Run `{RECOVER_COMMAND}`: it sends lost tasks again and names those a worker still "
        f"holds (a dead worker's task returns by itself within "
        f"{duration(visibility_timeout_s)}, the visibility timeout)."
    )


def report(st: BatchStatus, *, stall_after_s: float, visibility_timeout_s: float) -> list[str]:
    lines = [status_line(st)]
    if st.stalled(stall_after_s):
        lines.append(stalled_line(st, visibility_timeout_s))
    return lines


def as_json(st: BatchStatus, *, stall_after_s: float) -> str:
    out = st.as_json()
    out["stalled"] = st.stalled(stall_after_s)
    if out["stalled"]:
        out["recover_command"] = RECOVER_COMMAND
    return json.dumps(out)


def stamped(lines: list[str]) -> list[str]:
    """Lines prefixed with the UTC time, for a watch read in a terminal or a log."""
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    return [f"{stamp} {line}" for line in lines]


def watch(
    read: Callable[[], BatchStatus],
    show: Callable[[BatchStatus], list[str]],
    echo: Callable[[str], None],
    warn: Callable[[str], None],
    *,
    interval_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchStatus:
    """Echo ``show(read())`` every ``interval_s`` until no row is pending; return the last
    status. A database outage is one ``warn`` line per interval, and the watch goes on."""
    while True:
        try:
            st = read()
        except Unavailable as exc:
            warn(stamped([f"{exc.message}; trying again in {duration(interval_s)}"])[0])
        else:
            for line in show(st):
                echo(line)
            if st.pending == 0:
                return st
        sleep(interval_s)
