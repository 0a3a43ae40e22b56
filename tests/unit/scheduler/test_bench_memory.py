"""The memory accounting `dfscan bench` reports: PSS splits shared pages, USS counts a
process's own, and the sampler follows a process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from scheduler.bench.memory import Every, TreeSampler, children, descendants, rollup

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="Linux")

MB = 1 << 20
# A child that touches 64 MB of its own, then forks a grandchild that only reads them.
HOLDER = """
import os, sys, time
block = bytearray(64 << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
if os.fork() == 0:
    sum(block[::4096])
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder():  # type: ignore[no-untyped-def]
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while not children(proc.pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield proc
    finally:
        for pid in descendants(proc.pid):
            os.kill(pid, 9)
        proc.kill()
        proc.wait()


def test_pss_halves_pages_shared_after_fork_and_uss_counts_own_pages(holder) -> None:  # type: ignore[no-untyped-def]
    (child,) = children(holder.pid)
    parent_mem, child_mem = rollup(holder.pid), rollup(child)
    assert parent_mem is not None and child_mem is not None
    # The 64 MB block is mapped by both: each is charged half of it, and neither owns it.
    assert parent_mem.rss > 64 and child_mem.rss > 64
    assert 32 <= child_mem.pss < 48
    assert child_mem.uss < 16
    assert child_mem.shared > 60


def test_sampler_follows_the_tree_and_keeps_peaks(holder) -> None:  # type: ignore[no-untyped-def]
    sampler = TreeSampler(holder.pid, interval_s=0.05).start()
    time.sleep(0.3)
    tree = sampler.stop()
    assert tree.samples >= 2
    assert set(tree.peaks) == {holder.pid, *children(holder.pid)}
    (worker,) = tree.workers()
    assert worker.pss >= 32  # its half of the block
    # The tree holds the block once, however many processes map it.
    assert 64 <= tree.total_pss_peak < 64 + 64


def test_readings_at_most_once_per_interval() -> None:
    # The scaling benchmark reads memory as results arrive; at ~12 results a second a
    # reading each time slowed the run it measured, so they are spaced out.
    now = [0.0]
    due = Every(0.5, clock=lambda: now[0])
    taken = []
    for t in [0.0, 0.1, 0.2, 0.49, 0.5, 0.6, 1.2, 1.3, 5.0]:
        now[0] = t
        taken.append(due())
    assert taken == [True, False, False, False, True, False, True, False, True]


def test_rollup_of_a_process_that_is_gone_is_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert rollup(proc.pid) is None


def test_a_pool_of_one_is_measured_in_its_child_not_its_parent(holder) -> None:  # type: ignore[no-untyped-def]
    from scheduler.bench.scaling import memory_figures

    sampler = TreeSampler(holder.pid, interval_s=0.05).start()
    time.sleep(0.2)
    tree = sampler.stop()
    # A Celery worker with one pool process: the worker is the child, which shares the block.
    pool = memory_figures(tree, in_process=False)
    (child,) = children(holder.pid)
    assert pool["uss_mb_per_worker"] == tree.peaks[child].uss < 16
    # An embedded run with one worker scans in the root itself: the root is the worker.
    own = memory_figures(tree, in_process=True)
    assert own["pss_mb_per_worker"] == tree.peaks[holder.pid].pss >= 32
    assert pool["total_pss_mb"] == own["total_pss_mb"] == tree.total_pss_peak
