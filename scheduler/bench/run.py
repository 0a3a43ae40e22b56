"""``dfscan bench``: where a scan's time goes, against the decode-only floor and a CNN peer.

For each video and overall: wall and CPU seconds, the stage breakdown (fetch/open, decode,
face detection, features, classification, result write to SQLite through the same upsert as
``dfscan scan``), frames decoded against frames used, compressed bytes read, the real-time
factor per core (seconds of video per CPU-second of scanning), and the decode-only floor
measured in the same run: the same sampled frames, read by the same best strategy
(``common.frames.iter_video``) and nothing else. With ``--peer``, the same face crops at
299x299 go through an Xception on the CPU (the FaceForensics++ baseline), one thread like a
worker; ``peer_ratio`` is what that CNN pipeline spends per video (its decode and face
detection, which it shares with dfscan, plus the CNN) over what dfscan spends, in CPU seconds.

Everything runs in this process on one core's worth of threads (OpenCV and torch at one
thread, as the embedded pool's workers run), so CPU seconds are per-core costs. Shared
machines are noisy: ``--repeat`` runs every measurement several times and reports medians,
and the load average is recorded before and after.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common.settings import Settings
from scheduler.bench.measure import Bench, VideoRun, loadavg, probe
from scheduler.bench.scaling import run_figures, scaling, startup_figures
from scheduler.bench.summary import overall, summarize

# Workers of the cold run that measures start-up and memory when --scaling is not given:
# two, the fewest that show what workers share.
STARTUP_WORKERS = 2


def make_corpus(folder: Path, durations: Sequence[float] = (10, 12, 16, 20)) -> list[Path]:
    """720p H.264 talking-head-like clips (models.samples), no research data needed.

    50 distinct frames are rendered once and played forwards and backwards (no jumps), so a
    20 s clip costs no more memory than 2 s; the encoder still sees every frame.
    """
    from models.samples import sample_frames, write_video

    base = sample_frames(50, size=(1280, 720), seed=1)
    cycle = base + base[::-1]
    fps = 25
    paths = []
    for k, secs in enumerate(durations):
        n = int(secs * fps)
        frames = [cycle[(i + 7 * k) % len(cycle)] for i in range(n)]
        paths.append(write_video(folder / f"bench720_{k}_{int(secs)}s.mp4", frames, fps=fps))
    return paths


def run_bench(
    paths: Sequence[Path],
    settings: Settings,
    *,
    peer: bool = False,
    repeat: int = 1,
    scaling_workers: Sequence[int] = (),
    scaling_rounds: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="dfscan-bench-") as tmp:
        bench = Bench(settings, f"sqlite:///{tmp}/bench.db", peer)
        try:
            infos = {p: probe(p) for p in paths}  # also warms the page cache
            # One untimed scan first: lazy imports, the detector's first call and the
            # features' cached geometry are a per-process cost, not a per-video one.
            bench.scanner.scan(str(paths[0]))
            runs: dict[Path, list[VideoRun]] = {p: [] for p in paths}
            for rep in range(max(1, repeat)):
                for p in paths:
                    # Alternate the order so neither measurement always runs on a warm cache.
                    if rep % 2 == 0:
                        floor = bench.floor(p)
                        run = bench.scan(p)
                    else:
                        run = bench.scan(p)
                        floor = bench.floor(p)
                    run.floor = floor
                    if rep == 0 or bench.peer is not None:
                        run.peer_cnn = bench.peer_cnn(p) if rep == 0 else None
                    runs[p].append(run)
                    if progress:
                        progress(f"{p.name}: scan {run.scan.wall:.3f}s floor {floor.wall:.3f}s")
            videos = [summarize(p.name, infos[p], runs[p]) for p in paths]
            # The peer is slow and its cost steady: measured once per video.
            result: dict[str, Any] = {}
            total = overall(videos)
            result.update(
                realtime_factor_per_core=total["realtime_factor_per_core"],
                decode_floor_ratio=total["decode_floor_ratio"],
                peer_ratio=total["peer_ratio"],
                breakdown=total["breakdown"],
                overall=total,
                videos=videos,
                setup_s={"wall": bench.setup.wall, "cpu": bench.setup.cpu},
                frames_per_video=bench.scanner.cfg.frames,
                sampling=bench.scanner.cfg.sampling,
                tracking=bench.scanner.cfg.tracking,
                decode_strategy="pyav keyframe seek + skip_frame=NONREF (common.frames)"
                + (", runs from keyframes" if bench.scanner.cfg.sampling == "segments" else ""),
                peer=(
                    {"model": "xception (random weights)", "params": bench.peer.params,
                     "input": 299, "threads": 1}
                    if bench.peer is not None
                    else {"skipped": bench.peer_note or "not requested (--peer)"}
                ),
            )  # fmt: skip
        finally:
            bench.close()
    if scaling_workers:
        result["scaling"] = scaling(paths, settings, scaling_workers, scaling_rounds)
        result.update(startup_figures(result["scaling"]))
    else:
        # A cold pool of STARTUP_WORKERS over the list once: start-up and memory as deployed.
        # At least two videos per worker, so that every worker starts and scans.
        rounds = -(-2 * STARTUP_WORKERS // len(paths))
        start = run_figures([str(p) for p in paths] * rounds, settings, STARTUP_WORKERS)
        result["startup"] = start
        result.update(startup_figures({"runs": [start]}))
    result["repeat"] = max(1, repeat)
    result["cpu_count"] = os.cpu_count()
    result["load_before"] = load_before
    result["load_after"] = loadavg()
    return result
