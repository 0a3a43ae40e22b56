"""Memory of a process tree, from the kernel's own accounting (``/proc/PID/smaps_rollup``).

PSS (proportional set size) charges each page to the processes that map it in equal
shares, so the PSS of a pool's processes adds up to the memory the pool really holds, and a
worker that shares its parent's model pages is charged a third of them, not all (RSS would
count them in full in every process). USS (private pages) is what a process would give back
if it exited: the memory an extra worker adds.

A sampler thread reads the tree (a root process and its descendants, found through
``/proc/*/stat``) at an interval and keeps each process's peak and the peak of the tree's
total, for ``dfscan bench``. Linux only: elsewhere every reading is None.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MB = 1024.0  # smaps_rollup counts kB


@dataclass(frozen=True, slots=True)
class Memory:
    """One process's memory in MB."""

    rss: float
    pss: float
    uss: float  # Private_Clean + Private_Dirty
    shared: float  # Shared_Clean + Shared_Dirty


def rollup(pid: int) -> Memory | None:
    """The process's memory now; None if it ended or the kernel has no smaps_rollup."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb: dict[str, int] = {}
    for line in text.splitlines()[1:]:  # the first line is the [rollup] mapping
        key, _, rest = line.partition(":")
        value = rest.split()
        if value and value[0].isdigit():
            kb[key] = int(value[0])
    if "Pss" not in kb:
        return None
    return Memory(
        rss=kb.get("Rss", 0) / MB,
        pss=kb["Pss"] / MB,
        uss=(kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / MB,
        shared=(kb.get("Shared_Clean", 0) + kb.get("Shared_Dirty", 0)) / MB,
    )


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (the comm field may hold spaces or parentheses)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        out[int(stat.parent.name)] = int(fields[1])
    return out


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (this kernel may lack /proc/PID/task/*/children)."""
    return sorted(p for p, parent in _parents().items() if parent == pid)


# multiprocessing's own helper processes: a spawned pool's semaphore tracker, a forkserver.
HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def is_helper(pid: int) -> bool:
    """A multiprocessing helper process rather than a worker (by its command line)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return any(h in cmdline for h in HELPERS)


def descendants(pid: int) -> list[int]:
    """Children, grandchildren ... of ``pid``, parents before their children."""
    by_parent: dict[int, list[int]] = {}
    for p, parent in _parents().items():
        by_parent.setdefault(parent, []).append(p)
    out: list[int] = []
    todo = sorted(by_parent.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(sorted(by_parent.get(p, [])))
    return out


@dataclass(slots=True)
class TreeMemory:
    """Peaks over a run: per process (the root and each descendant) and of the tree's sum."""

    root: int
    peaks: dict[int, Memory] = field(default_factory=dict)
    total_pss_peak: float = 0.0
    total_uss_at_peak: float = 0.0
    samples: int = 0
    helpers: set[int] = field(default_factory=set)  # multiprocessing helpers, not workers

    def add(self, sample: dict[int, Memory]) -> None:
        self.samples += 1
        for pid, mem in sample.items():
            if pid not in self.peaks or mem.pss > self.peaks[pid].pss:
                self.peaks[pid] = mem
        total = sum(m.pss for m in sample.values())
        if total > self.total_pss_peak:
            self.total_pss_peak = total
            self.total_uss_at_peak = sum(m.uss for m in sample.values())

    def workers(self) -> list[Memory]:
        """Peaks of the root's descendants that are not multiprocessing helpers (a pool's
        workers), by pid."""
        skip = {self.root, *self.helpers}
        return [m for pid, m in sorted(self.peaks.items()) if pid not in skip]


# Readings at most this often. smaps_rollup makes the kernel walk each process's pages: 7 ms
# of CPU for one 270 MB scanning process, 18 ms for a pool of three (measured), spent by the
# reading process on the cores the workers share, so frequent readings slow the very run
# they measure (docs/speed.md: at every result they took ~2 s from a 16 s two-worker run).
SAMPLE_EVERY_S = 0.5


@dataclass(slots=True)
class Every:
    """True at most once per ``interval_s`` of ``clock`` (always the first time)."""

    interval_s: float
    clock: Callable[[], float] = time.monotonic
    _last: float | None = None

    def __call__(self) -> bool:
        now = self.clock()
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        return True


class TreeSampler:
    """Samples a process tree every ``interval_s`` in a thread until :meth:`stop`."""

    def __init__(self, root: int, interval_s: float = SAMPLE_EVERY_S) -> None:
        self.result = TreeMemory(root)
        self._interval = interval_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dfscan-pss", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def sample(self) -> None:
        root = self.result.root
        now = {p: m for p in [root, *descendants(root)] if (m := rollup(p)) is not None}
        seen = self.result.peaks
        self.result.helpers.update(p for p in now if p != root and p not in seen and is_helper(p))
        if now:
            self.result.add(now)

    def _run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self._interval)

    def stop(self) -> TreeMemory:
        self._done.set()
        self._thread.join()
        return self.result
