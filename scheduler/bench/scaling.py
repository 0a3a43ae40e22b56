"""Throughput of the embedded pool with 1, 2, ... workers, each run in a fresh interpreter."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.settings import Settings
from scheduler.bench.measure import loadavg
from scheduler.bench.summary import median


def _cpu_now() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # pool workers, once they exit
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _embedded_arrivals(targets: list[str], settings: Settings) -> dict[str, Any]:
    """One run_embedded in this (fresh) process: wall-clock arrival time of each result."""
    from scheduler.embedded import run_embedded

    arrivals: list[float] = []
    results = run_embedded(targets, settings, on_result=lambda _r: arrivals.append(time.time()))
    return {"arrivals": arrivals, "errors": sum(1 for r in results if r.error)}


def _cold_run(targets: list[str], settings: Settings) -> tuple[float, list[float], float, int]:
    """(wall, arrivals after start, CPU, errors) of a scan started in a fresh interpreter.

    Every configuration pays the same start-up (imports, the bundle, dlib's landmark model)
    that a fresh ``dfscan scan`` or Celery worker pays, so 1 and 2 workers compare fairly.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    t0, c0 = time.time(), _cpu_now()
    with ProcessPoolExecutor(1, mp.get_context("spawn")) as pool:
        got = pool.submit(_embedded_arrivals, targets, settings).result()
    wall, cpu = time.time() - t0, _cpu_now() - c0  # the child and its workers, reaped
    return wall, [a - t0 for a in got["arrivals"]], cpu, got["errors"]


def scaling(
    paths: Sequence[Path], settings: Settings, workers: Sequence[int], rounds: int = 1
) -> dict[str, Any]:
    """Throughput of scheduler.embedded.run_embedded with 1, 2, ... worker processes.

    Each run starts in a fresh interpreter, so ``videos_per_s`` (end to end) includes
    starting up (imports, model and landmark model load, ~2.5 CPU-s per process) for every
    worker count alike; ``steady`` counts results after the first one arrived, which is what
    a long queue sees. ``cpu_per_video_s`` (the run's CPU over its videos) shows whether
    workers slow each other down, independent of other load on the machine.
    """
    targets = [str(p) for p in paths] * max(1, rounds)
    out: dict[str, Any] = {"videos": len(targets), "runs": []}
    for w in workers:
        with tempfile.TemporaryDirectory() as tmp:
            s = settings.model_copy(
                update={"workers": w, "database_url": f"sqlite:///{tmp}/scaling.db"}
            )
            before = loadavg()
            wall, arrivals, cpu, errors = _cold_run(targets, s)
            steady = (
                (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
                if len(arrivals) > 1 and arrivals[-1] > arrivals[0]
                else None
            )
            out["runs"].append(
                {
                    "workers": w,
                    "wall_s": wall,
                    "first_result_s": arrivals[0] if arrivals else None,
                    "videos_per_s": len(targets) / wall if wall > 0 else None,
                    "steady_videos_per_s": steady,
                    "cpu_s": cpu,
                    "cpu_per_video_s": cpu / len(targets),
                    "errors": errors,
                    "load_before": before,
                    "load_after": loadavg(),
                }
            )
    runs = out["runs"]
    by_w: dict[int, list[dict[str, Any]]] = {}
    for r in runs:
        by_w.setdefault(r["workers"], []).append(r)
    if len(by_w) >= 2:
        lo, hi = min(by_w), max(by_w)

        def med(w: int, key: str) -> float | None:
            vals = [r[key] for r in by_w[w] if r[key]]
            return median(vals) if vals else None

        for key, name in (("videos_per_s", "speedup"), ("steady_videos_per_s", "steady_speedup")):
            a, b = med(lo, key), med(hi, key)
            out[name] = b / a if a and b else None
    return out
