"""Throughput, start-up and memory of the embedded pool with 1, 2, ... workers, each run in
a fresh interpreter."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.settings import Settings
from scheduler.bench.measure import loadavg
from scheduler.bench.memory import SAMPLE_EVERY_S, Every, TreeMemory, rollup
from scheduler.bench.summary import median


def _cpu_now() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # pool workers, once they exit
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _embedded_arrivals(targets: list[str], settings: Settings, conn: Any) -> None:
    """One run_embedded in this (fresh) process; sends the wall-clock arrival time of each
    result, the error count and the memory of this process and its pool through ``conn``.

    Memory is read as a result arrives (a sampler thread would stop the pool from forking),
    at the first result and then at most every SAMPLE_EVERY_S: each worker is seen however
    short the run, and the readings (7-18 ms of CPU each) do not slow the run they measure.
    """
    import multiprocessing as mp

    from scheduler.embedded import run_embedded

    arrivals: list[float] = []
    memory = TreeMemory(os.getpid())
    due = Every(SAMPLE_EVERY_S)

    def arrived(_result: object) -> None:
        arrivals.append(time.time())
        if not due():
            return
        pids = [memory.root, *(p.pid for p in mp.active_children() if p.pid)]
        memory.add({p: m for p in pids if (m := rollup(p)) is not None})

    results = run_embedded(targets, settings, on_result=arrived)
    errors = sum(1 for r in results if r.error)
    conn.send({"arrivals": arrivals, "errors": errors, "memory": memory})
    conn.close()


def cold_run(targets: list[str], settings: Settings) -> dict[str, Any]:
    """A scan of ``targets`` started in a fresh interpreter, as ``dfscan scan`` is.

    Every configuration pays the same start-up (imports, the bundle, dlib's landmark model)
    that a fresh ``dfscan scan`` or Celery worker pays, so 1 and 2 workers compare fairly.
    Returns the wall time, the arrival of each result after the start, the CPU of that
    interpreter and its workers (counted once they are reaped), the errors, and the memory
    of that process and its pool (:mod:`scheduler.bench.memory`) read as each result arrived.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_embedded_arrivals, args=(targets, settings, send))
    t0, c0 = time.time(), _cpu_now()
    proc.start()
    try:
        got = receive.recv()
    finally:
        proc.join()
    wall, cpu = time.time() - t0, _cpu_now() - c0  # the child and its workers, reaped
    if proc.exitcode != 0:
        raise RuntimeError(f"the benchmark's scan process exited with {proc.exitcode}")
    return {
        "wall": wall,
        "arrivals": [a - t0 for a in got["arrivals"]],
        "cpu": cpu,
        "errors": got["errors"],
        "memory": got["memory"],
    }


def memory_figures(memory: TreeMemory, *, in_process: bool) -> dict[str, Any]:
    """Per-worker and whole-pool memory (MB) of one run: peaks of PSS and USS.

    ``in_process``: the root scanned itself (run_embedded with one worker), so it is the
    worker. Otherwise the workers are its children (a pool, a Celery worker's pool processes
    however many) and the pool's total counts the root too.
    """
    if in_process:
        procs = [memory.peaks[memory.root]] if memory.root in memory.peaks else []
    else:
        procs = memory.workers()
    return {
        "pss_mb_per_worker": median([m.pss for m in procs]) if procs else None,
        "uss_mb_per_worker": median([m.uss for m in procs]) if procs else None,
        "rss_mb_per_worker": median([m.rss for m in procs]) if procs else None,
        "total_pss_mb": memory.total_pss_peak or None,
        "memory_samples": memory.samples,
    }


def run_figures(targets: list[str], settings: Settings, workers: int) -> dict[str, Any]:
    """One cold run with ``workers`` processes, in a throwaway SQLite database."""
    with tempfile.TemporaryDirectory() as tmp:
        s = settings.model_copy(
            update={"workers": workers, "database_url": f"sqlite:///{tmp}/scaling.db"}
        )
        before = loadavg()
        run = cold_run(targets, s)
    arrivals, wall = run["arrivals"], run["wall"]
    steady = (
        (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        if len(arrivals) > 1 and arrivals[-1] > arrivals[0]
        else None
    )
    return {
        "workers": workers,
        "wall_s": wall,
        # From launching the interpreter to the first result: start-up plus one scan.
        "first_result_s": arrivals[0] if arrivals else None,
        "videos_per_s": len(targets) / wall if wall > 0 else None,
        "steady_videos_per_s": steady,
        "cpu_s": run["cpu"],
        "cpu_per_video_s": run["cpu"] / len(targets),
        "errors": run["errors"],
        # run_embedded scans in its own process with one worker, forks a pool with more.
        **memory_figures(run["memory"], in_process=workers == 1),
        "load_before": before,
        "load_after": loadavg(),
    }


def _median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in runs if r[key]]
    return median(vals) if vals else None


def scaling(
    paths: Sequence[Path], settings: Settings, workers: Sequence[int], rounds: int = 1
) -> dict[str, Any]:
    """Throughput of scheduler.embedded.run_embedded with 1, 2, ... worker processes.

    Each run starts in a fresh interpreter, so ``videos_per_s`` (end to end) includes
    starting up (imports, model and landmark model load, ~2.5 CPU-s per process) for every
    worker count alike; ``steady`` counts results after the first one arrived, which is what
    a long queue sees. ``cpu_per_video_s`` (the run's CPU over its videos) shows whether
    workers slow each other down, independent of other load on the machine.
    ``added_pss_mb_per_worker`` is what each worker beyond the fewest adds to the peak PSS
    of the whole process tree (medians over the runs of each count).
    """
    targets = [str(p) for p in paths] * max(1, rounds)
    runs = [run_figures(targets, settings, w) for w in workers]
    out: dict[str, Any] = {"videos": len(targets), "runs": runs}
    by_w: dict[int, list[dict[str, Any]]] = {}
    for r in runs:
        by_w.setdefault(r["workers"], []).append(r)
    if len(by_w) >= 2:
        lo, hi = min(by_w), max(by_w)
        for key, name in (("videos_per_s", "speedup"), ("steady_videos_per_s", "steady_speedup")):
            a, b = _median_of(by_w[lo], key), _median_of(by_w[hi], key)
            out[name] = b / a if a and b else None
        a, b = _median_of(by_w[lo], "total_pss_mb"), _median_of(by_w[hi], "total_pss_mb")
        out["added_pss_mb_per_worker"] = (b - a) / (hi - lo) if a and b else None
    return out


def startup_figures(scaling_result: dict[str, Any]) -> dict[str, float | None]:
    """``pss_mb_per_worker`` and ``seconds_to_first_scan``: medians over the runs with the
    most workers (the pool as deployed, its workers sharing what their parent loaded)."""
    runs = scaling_result["runs"]
    most = max(r["workers"] for r in runs)
    mine = [r for r in runs if r["workers"] == most]
    return {
        "pss_mb_per_worker": _median_of(mine, "pss_mb_per_worker"),
        "seconds_to_first_scan": _median_of(mine, "first_result_s"),
    }
