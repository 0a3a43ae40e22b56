"""CPU seconds per video per scan stage (decode, faces, features, classify), at several
frame counts, through the scanner's own code path.

``dfscan bench`` reports the stages in wall seconds; on a shared, loaded machine those
include waiting for a core. Here every stage timer of ``common.extract`` and
``models.scanner`` reads this process's CPU clock instead (their ``time.perf_counter`` is
replaced by ``time.process_time`` for the run), so the figures are per-core costs whatever
the load. One untimed scan warms the process; per video, the median over ``--repeat`` runs.

    .venv/bin/python -m research.stage_cpu --frames 16,24,32
    .venv/bin/python -m research.stage_cpu --frames 32 --tracking landmarks --model PATH

``--model`` scans with another bundle (e.g. one trained on every family, to time them all;
its digest is trusted for this run only). Nothing is written into the repository.
"""

from __future__ import annotations

import os

# Single-threaded BLAS/OpenMP: set before numpy is imported, or it has no effect.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "pristine"
STAGES = ("decode", "faces", "features", "classify")


def cpu_clocks() -> None:
    """Make the scan's stage timers read CPU time (this process), not wall time."""
    import common.extract
    import models.scanner

    shim = types.SimpleNamespace(perf_counter=time.process_time, monotonic=time.monotonic)
    common.extract.time = shim  # type: ignore[assignment]
    models.scanner.time = shim  # type: ignore[assignment]


def duration_s(path: Path) -> float:
    from scheduler.bench.measure import probe

    return float(probe(path)["duration_s"])


def scanner_for(frames: int, model: Path | None, tracking: str | None):  # type: ignore[no-untyped-def]
    import cv2

    from common.settings import Settings
    from models.scanner import Scanner

    cv2.setNumThreads(1)  # as each pool worker runs
    kw: dict[str, object] = {"frames_per_video": frames}
    if tracking:
        kw["tracking"] = tracking
    if model is not None:
        import hashlib

        kw["model_path"] = model
        kw["model_sha256"] = hashlib.sha256((model / "SHA256SUMS").read_bytes()).hexdigest()
    return Scanner(Settings(**kw), local_files=True)  # type: ignore[arg-type]


def measure(scanner, videos: Sequence[Path], repeat: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Per-stage CPU seconds per video (means over videos of per-video medians)."""
    scanner.scan(str(videos[0]))  # warm-up: lazy imports, the landmark model's first call
    per: dict[str, list[list[float]]] = {s: [[] for _ in videos] for s in (*STAGES, "total")}
    frames = faces = 0
    errors = []
    for rep in range(repeat):
        first = rep == 0
        for i, v in enumerate(videos):
            c0 = time.process_time()
            r = scanner.scan(str(v))
            per["total"][i].append(time.process_time() - c0)
            for s in STAGES:
                per[s][i].append(float(r.timings.get(s, 0.0)))
            if r.error:
                errors.append(f"{v.name}: {r.error['code']}")
            if first:
                frames, faces = frames + r.frames_used, faces + r.faces_found
    med = {s: [float(np.median(x)) for x in per[s]] for s in per}
    return {
        "cpu_s_per_video": {s: float(np.mean(med[s])) for s in med},
        "cpu_s_total": float(np.sum(med["total"])),
        "frames_used": frames,
        "faces_found": faces,
        "errors": errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path, help=f"default: {DATA}/*.mp4")
    ap.add_argument("--frames", default="16,24,32", help="frame counts, comma-separated")
    ap.add_argument("--model", type=Path, help="model bundle (default: the bundled one)")
    ap.add_argument("--tracking", help="override the model's tracking")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = ap.parse_args(argv)
    videos = args.videos or sorted(DATA.glob("*.mp4"))
    if not videos:
        print(f"no videos (research data at {DATA}?)", file=sys.stderr)
        return 2
    cpu_clocks()
    seconds = sum(duration_s(v) for v in videos)
    out: dict[str, object] = {"videos": len(videos), "video_s": seconds, "runs": {}}
    for n in (int(x) for x in args.frames.split(",")):
        scanner = scanner_for(n, args.model, args.tracking)
        load0 = os.getloadavg()[0]
        r = measure(scanner, videos, args.repeat)
        r["load"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        r["model"], r["tracking"] = scanner.model_version, scanner.cfg.tracking
        r["families"] = [f.name for f in scanner.cfg.families] + [c.name for c in scanner.cfg.clips]
        r["realtime_per_core"] = seconds / r["cpu_s_total"]  # type: ignore[operator]
        out["runs"][n] = r  # type: ignore[index]
        if not args.json:
            c = r["cpu_s_per_video"]
            print(
                f"{n:3d} frames {r['tracking']:9s} "
                + " ".join(f"{s} {1e3 * c[s]:6.1f}" for s in (*STAGES, "total"))  # type: ignore[index]
                + f" ms/video | {r['realtime_per_core']:6.1f}x per core | faces "
                f"{r['faces_found']}/{r['frames_used']} | load {r['load']}"
                + (f" | errors {r['errors']}" if r["errors"] else ""),
                flush=True,
            )
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
