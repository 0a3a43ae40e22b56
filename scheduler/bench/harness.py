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

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from common.settings import Settings
from scheduler.options import extraction_overrides

STAGES = ("fetch", "decode", "faces", "features", "classify", "write")


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


@dataclass(slots=True)
class Clock:
    """Wall and CPU seconds of a block."""

    wall: float = 0.0
    cpu: float = 0.0

    @classmethod
    def run(cls, fn: Callable[[], Any]) -> tuple[Clock, Any]:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        return cls(time.perf_counter() - t0, time.process_time() - c0), out


@dataclass(slots=True)
class VideoRun:
    """One measurement of one video (medians over repeats are taken later)."""

    scan: Clock
    floor: Clock
    stages: dict[str, float]
    frames_decoded: int
    frames_used: int
    faces_found: int
    bytes_read: int
    error: str | None = None
    peer_cnn: Clock | None = None
    extra: dict[str, float] = field(default_factory=dict)


def probe(path: Path) -> dict[str, float]:
    """Duration, frame count and size of a video (PyAV; outside the timed blocks)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = float(s.guessed_rate or s.average_rate or 25)
        frames = int(s.frames or 0)
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif c.duration:
            duration = c.duration / 1e6
        else:
            duration = frames / rate
        return {
            "duration_s": duration or frames / rate,
            "frames": frames,
            "fps": rate,
            "width": s.codec_context.width,
            "height": s.codec_context.height,
            "file_bytes": path.stat().st_size,
        }


class Bench:
    """Holds what a worker holds once per process: the scanner, the database, the peer."""

    def __init__(self, settings: Settings, db_url: str, peer: bool) -> None:
        import cv2

        from common.db import init_db, make_engine, session_factory
        from models.scanner import Scanner

        cv2.setNumThreads(1)  # as in scheduler.embedded._init_worker
        self.settings = settings
        self.setup, self.scanner = Clock.run(lambda: Scanner(settings))
        self.engine = make_engine(db_url)
        init_db(self.engine)
        self.factory = session_factory(self.engine)
        self.peer = None
        self.peer_note: str | None = None
        if peer:
            from scheduler.bench import peer as peer_mod

            if peer_mod.available():
                self.peer = peer_mod.XceptionPeer(threads=1)
            else:
                self.peer_note = (
                    "torch is not installed: peer skipped "
                    "(pip install -e '.[peer]' or pip install torch)"
                )

    def close(self) -> None:
        self.engine.dispose()

    def _write(self, path: Path, result: Any) -> None:
        from common.db import session_scope, upsert_scan, upsert_video

        with session_scope(self.factory) as s:
            vid = upsert_video(s, str(path.resolve()))
            upsert_scan(s, vid, result)

    def floor(self, path: Path) -> Clock:
        """Decode exactly the frames the scan samples, by the scan's own reader."""
        from common.frames import SampleLimits, iter_video

        n, sampling = self.scanner.cfg.frames, self.scanner.cfg.sampling
        clock, _ = Clock.run(lambda: sum(1 for _ in iter_video(path, n, SampleLimits(), sampling)))
        return clock

    def scan(self, path: Path) -> VideoRun:
        from common.frames import collect_decode_stats

        def go() -> tuple[Any, Any]:
            with collect_decode_stats() as stats:
                result = self.scanner.scan(str(path))
            t0 = time.perf_counter()
            self._write(path, result)
            result.timings["write"] = time.perf_counter() - t0
            return result, stats

        clock, (result, stats) = Clock.run(go)
        return VideoRun(
            scan=clock,
            floor=Clock(),
            stages={k: float(result.timings.get(k, 0.0)) for k in STAGES},
            frames_decoded=stats.frames_decoded,
            frames_used=result.frames_used,
            faces_found=result.faces_found,
            bytes_read=stats.bytes_read,
            error=None if result.error is None else result.error["code"],
        )

    def peer_cnn(self, path: Path) -> Clock | None:
        """The CNN's own cost on the scan's face crops (299x299); decode/detect not counted."""
        if self.peer is None:
            return None
        from common.faces import crop_square, make_detector, track_faces
        from common.frames import SampleLimits, iter_video

        cfg = self.scanner.cfg
        frames = list(iter_video(path, cfg.frames, SampleLimits(), cfg.sampling))
        faces = track_faces(frames, make_detector(cfg.detector), cfg.crop_size, cfg.tracking)
        by_index = {f.index: f for f in frames}
        from scheduler.bench.peer import INPUT_SIZE

        crops = [crop_square(by_index[f.frame_index].image, f.box, INPUT_SIZE)[0] for f in faces]
        if not crops:
            return None
        peer = self.peer
        clock, _ = Clock.run(lambda: peer.score(crops))
        return clock


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarize(name: str, info: dict[str, float], runs: list[VideoRun]) -> dict[str, Any]:
    """Median over the repeats of one video."""
    scan_wall = _median([r.scan.wall for r in runs])
    scan_cpu = _median([r.scan.cpu for r in runs])
    floor_wall = _median([r.floor.wall for r in runs])
    floor_cpu = _median([r.floor.cpu for r in runs])
    out: dict[str, Any] = {
        "video": name,
        **info,
        "error": runs[0].error,
        "wall_s": scan_wall,
        "cpu_s": scan_cpu,
        "breakdown": {k: _median([r.stages[k] for r in runs]) for k in STAGES},
        "frames_decoded": runs[0].frames_decoded,
        "frames_used": runs[0].frames_used,
        "faces_found": runs[0].faces_found,
        "bytes_read": runs[0].bytes_read,
        "floor_wall_s": floor_wall,
        "floor_cpu_s": floor_cpu,
        "decode_floor_ratio": scan_wall / floor_wall if floor_wall > 0 else None,
        "decode_floor_ratio_cpu": scan_cpu / floor_cpu if floor_cpu > 0 else None,
        "realtime_factor_per_core": info["duration_s"] / scan_cpu if scan_cpu > 0 else None,
    }
    peers = [r.peer_cnn for r in runs if r.peer_cnn is not None]
    if peers:
        cnn_cpu = _median([p.cpu for p in peers])
        shared = out["breakdown"]["fetch"] + out["breakdown"]["decode"] + out["breakdown"]["faces"]
        # Stage timings are wall; scale to CPU by the scan's own CPU/wall ratio.
        shared_cpu = shared * (scan_cpu / scan_wall if scan_wall > 0 else 1.0)
        out["peer_cnn_cpu_s"] = cnn_cpu
        out["peer_cnn_wall_s"] = _median([p.wall for p in peers])
        out["peer_cpu_s"] = cnn_cpu + shared_cpu
        out["peer_ratio"] = out["peer_cpu_s"] / scan_cpu if scan_cpu > 0 else None
    else:
        out["peer_ratio"] = None
    return out


def overall(videos: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [v for v in videos if v["error"] is None]
    tot = {k: sum(v[k] for v in ok) for k in ("wall_s", "cpu_s", "floor_wall_s", "floor_cpu_s")}
    duration = sum(v["duration_s"] for v in ok)
    out: dict[str, Any] = {
        "videos": len(videos),
        "scanned": len(ok),
        "video_seconds": duration,
        **tot,
        "breakdown": {k: sum(v["breakdown"][k] for v in ok) for k in STAGES},
        "frames_decoded": sum(v["frames_decoded"] for v in ok),
        "frames_used": sum(v["frames_used"] for v in ok),
        "faces_found": sum(v["faces_found"] for v in ok),
        "face_rate": (
            sum(v["faces_found"] for v in ok) / max(1, sum(v["frames_used"] for v in ok))
        ),
        "bytes_read": sum(v["bytes_read"] for v in ok),
        "realtime_factor_per_core": duration / tot["cpu_s"] if tot["cpu_s"] > 0 else None,
        "realtime_factor_wall": duration / tot["wall_s"] if tot["wall_s"] > 0 else None,
        "decode_floor_ratio": (
            tot["wall_s"] / tot["floor_wall_s"] if tot["floor_wall_s"] > 0 else None
        ),
        "decode_floor_ratio_cpu": (
            tot["cpu_s"] / tot["floor_cpu_s"] if tot["floor_cpu_s"] > 0 else None
        ),
        "peer_ratio": None,
    }
    peers = [v for v in ok if v.get("peer_cpu_s") is not None]
    if peers:
        peer_cpu = sum(v["peer_cpu_s"] for v in peers)
        ours = sum(v["cpu_s"] for v in peers)
        out["peer_cpu_s"] = peer_cpu
        out["peer_cnn_cpu_s"] = sum(v["peer_cnn_cpu_s"] for v in peers)
        out["peer_ratio"] = peer_cpu / ours if ours > 0 else None
    return out


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
            return _median(vals) if vals else None

        for key, name in (("videos_per_s", "speedup"), ("steady_videos_per_s", "steady_speedup")):
            a, b = med(lo, key), med(hi, key)
            out[name] = b / a if a and b else None
    return out


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
    result["repeat"] = max(1, repeat)
    result["cpu_count"] = os.cpu_count()
    result["load_before"] = load_before
    result["load_after"] = loadavg()
    return result


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def human(res: dict[str, Any]) -> str:
    lines = [
        f"{'VIDEO':40s} {'DUR':>6s} {'WALL':>7s} {'CPU':>7s} {'FLOOR':>7s} {'xFLOOR':>6s} "
        f"{'RT/CORE':>7s} {'DEC/USED':>9s} {'FACES':>5s} {'PEER':>6s}"
    ]
    for v in res["videos"]:
        lines.append(
            f"{v['video'][:40]:40s} {v['duration_s']:6.1f} {v['wall_s']:7.3f} {v['cpu_s']:7.3f} "
            f"{v['floor_wall_s']:7.3f} {_fmt(v['decode_floor_ratio']):>6s} "
            f"{_fmt(v['realtime_factor_per_core'], '.0f'):>7s} "
            f"{v['frames_decoded']:>4d}/{v['frames_used']:<4d} {v['faces_found']:5d} "
            f"{_fmt(v['peer_ratio'], '.1f'):>6s}" + (f"  error: {v['error']}" if v["error"] else "")
        )
    o = res["overall"]
    b = o["breakdown"]
    lines += [
        "",
        f"overall: {o['scanned']}/{o['videos']} videos, {o['video_seconds']:.1f} s of video in "
        f"{o['wall_s']:.2f} s wall / {o['cpu_s']:.2f} s CPU",
        f"  real-time factor per core: {_fmt(o['realtime_factor_per_core'], '.1f')}x "
        f"(wall {_fmt(o['realtime_factor_wall'], '.1f')}x)",
        f"  decode-only floor: {o['floor_wall_s']:.2f} s wall -> ratio "
        f"{_fmt(o['decode_floor_ratio'])} (CPU {_fmt(o['decode_floor_ratio_cpu'])})",
        "  stages (wall s): " + ", ".join(f"{k} {b[k]:.2f}" for k in STAGES),
        f"  frames decoded {o['frames_decoded']} for {o['frames_used']} used; faces in "
        f"{o['faces_found']} ({o['face_rate']:.1%}); {o['bytes_read'] / 1e6:.1f} MB read",
        f"  CNN peer: ratio {_fmt(o['peer_ratio'], '.1f')}x"
        + (f" ({res['peer']['skipped']})" if "skipped" in res["peer"] else ""),
    ]
    if "scaling" in res:
        sc = res["scaling"]
        for r in sc["runs"]:
            lines.append(
                f"  workers {r['workers']}: {r['wall_s']:.2f} s, {_fmt(r['videos_per_s'])} "
                f"videos/s (steady {_fmt(r['steady_videos_per_s'])}), "
                f"{r['cpu_per_video_s']:.3f} CPU-s/video"
            )
        lines.append(
            f"  speed-up: {_fmt(sc.get('speedup'))}x (steady {_fmt(sc.get('steady_speedup'))}x)"
        )
    lines.append(f"  load average before {res['load_before']} after {res['load_after']}")
    return "\n".join(lines)


def register(main: click.Group) -> None:
    """Add ``dfscan bench`` to the CLI group."""

    @main.command("bench")
    @click.argument("videos", nargs=-1, type=click.Path(exists=True, dir_okay=False))
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    @click.option("--frames", type=int, help="Frames sampled per video (default: settings).")
    @click.option("--peer", is_flag=True, help="Also time an Xception CNN on the same crops.")
    @click.option("--repeat", type=int, default=1, show_default=True, help="Runs; medians.")
    @click.option(
        "--scaling",
        "scaling_workers",
        default="",
        help="Comma-separated worker counts for a run_embedded throughput test, e.g. 1,2.",
    )
    @click.option(
        "--scaling-rounds", default=1, show_default=True, help="Scan the list this many times."
    )
    @click.option("--model", "model_path", type=click.Path(path_type=Path), help="Model bundle.")
    @extraction_overrides
    @click.pass_context
    def bench(
        ctx: click.Context,
        videos: tuple[str, ...],
        as_json: bool,
        frames: int | None,
        peer: bool,
        repeat: int,
        scaling_workers: str,
        scaling_rounds: int,
        model_path: Path | None,
        sampling: str | None,
        tracking: str | None,
    ) -> None:
        """Speed of the scan: stages, decode-only floor, real-time factor, CNN peer.

        With no VIDEO it generates a 720p H.264 corpus in a temporary folder.
        """
        base: Settings = ctx.obj["settings"]
        update = {
            "frames_per_video": frames,
            "model_path": model_path,
            "sampling": sampling,
            "tracking": tracking,
        }
        settings = base.model_copy(update={k: v for k, v in update.items() if v is not None})
        workers = [int(w) for w in scaling_workers.split(",") if w.strip()]
        say = (lambda m: click.echo(m, err=True)) if not as_json else None
        with tempfile.TemporaryDirectory(prefix="dfscan-corpus-") as tmp:
            if videos:
                paths = [Path(v) for v in videos]
            else:
                if say:
                    say("generating a 720p H.264 corpus (4 clips, 10-20 s) ...")
                paths = make_corpus(Path(tmp))
            from models.bundle import BundleError

            try:
                res = run_bench(
                    paths,
                    settings,
                    peer=peer,
                    repeat=repeat,
                    scaling_workers=workers,
                    scaling_rounds=scaling_rounds,
                    progress=say,
                )
            except BundleError as exc:
                raise click.ClickException(str(exc)) from exc
        if not videos:
            res["corpus"] = "generated: 4 x 1280x720 H.264 (libx264 crf 23), 10/12/16/20 s"
        if as_json:
            click.echo(json.dumps(res, indent=2))
        else:
            click.echo(human(res))
