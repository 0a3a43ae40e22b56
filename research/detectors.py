"""Face detector comparison on real data: face-found rate and milliseconds per frame.

Each backend runs `detect_faces` (detection on a copy downscaled to DETECT_MAX_SIDE, a
larger retry when nothing is found) on the same sampled frames, without tracking, so the
numbers compare detectors, not the tracker. Writes docs/detectors.md.

    .venv/bin/python -m research.detectors [--data ../shared/data] [--frames 8]

Reads ../shared/data when present (research data, never copied here) and says so when not.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

from common.faces import detect_faces, make_detector
from common.frames import SampleLimits, iter_frames
from common.media import LocalMedia, classify_path

ROOT = Path(__file__).resolve().parents[1]

BACKENDS = ("haar", "dlib")


def _targets(data: Path) -> dict[str, list[Path]]:
    with (data / "pristine/manifest.csv").open() as fh:
        pristine = [data / r["path"] for r in csv.DictReader(fh)]
    with (data / "ffpp_c40/manifest.csv").open() as fh:
        ffpp = [data / r["path"] for r in csv.DictReader(fh)]
    clips = sorted((data / "deepfaketimit_lq/val").glob("*/*/*"))[::5]
    return {"pristine": pristine, "ffpp_c40": ffpp, "deepfaketimit_lq val (1 in 5 clips)": clips}


def measure(paths: list[Path], backend: str, frames: int) -> tuple[float, float, int]:
    det = make_detector(backend)
    found = total = 0
    seconds = 0.0
    for p in paths:
        media = LocalMedia(p, classify_path(p))
        for frame in iter_frames(media, frames, SampleLimits()):
            t0 = time.perf_counter()
            hits = detect_faces(det, frame.image)
            seconds += time.perf_counter() - t0
            total += 1
            found += bool(hits)
    return found / max(total, 1), 1000 * seconds / max(total, 1), total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "detectors.md")
    args = ap.parse_args()
    if not (args.data / "pristine").is_dir():
        print(f"no research data at {args.data}: nothing to measure")
        return 2
    import cv2

    cv2.setNumThreads(1)
    lines = [
        "# Face detectors compared",
        "",
        f"`python -m research.detectors`, {args.frames} sampled frames per video, one thread, load "
        f"average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        "| data | backend | frames | face found | ms / frame |",
        "|---|---|---|---|---|",
    ]
    for name, paths in _targets(args.data).items():
        for backend in BACKENDS:
            rate, ms, n = measure(paths, backend, args.frames)
            lines.append(f"| {name} | {backend} | {n} | {100 * rate:.1f}% | {ms:.1f} |")
            print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
