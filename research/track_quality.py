"""Face tracking against per-frame detection: boxes, faces found, HOG passes and CPU.

For every video of a folder, the ``segments`` sample of N frames is decoded once; the boxes
of ``tracking="detect"`` (a detection on every frame; ``--reference`` another mode) are the
reference, and each tracking mode is compared with them frame by frame: IoU, centre shift
(fraction of the reference face's side), |log size ratio|, faces found, HOG passes and
landmark re-fits per video, and the face stage's CPU seconds per video (``track_faces``,
median of ``--repeat``, one thread).

    .venv/bin/python -m research.track_quality --frames 32
    .venv/bin/python -m research.track_quality --frames 16 --data ../shared/data/ffpp_c40
    .venv/bin/python -m research.track_quality --reference landmarks --modes runs --repeat 1

Reads research data; writes nothing into the repository.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from common.types import TRACKINGS, Box  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "pristine"


class Counting:
    """A face detector that counts its HOG passes and landmark re-fits."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name, self.min_face = inner, inner.name, inner.min_face
        self.detects = self.refits = 0

    def detect(self, gray: np.ndarray):  # type: ignore[no-untyped-def]
        self.detects += 1
        return self.inner.detect(gray)

    def landmarks_at(self, gray: np.ndarray, box: Box):  # type: ignore[no-untyped-def]
        self.refits += 1
        return self.inner.landmarks_at(gray, box)


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / float(a.area + b.area - inter)


def moves(ref: Box, b: Box) -> tuple[float, float, float]:
    side = max(ref.w, ref.h)
    shift = float(np.hypot(ref.center[0] - b.center[0], ref.center[1] - b.center[1])) / side
    return iou(ref, b), shift, abs(float(np.log(max(b.w, b.h) / side)))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder of videos (*.mp4, *.avi)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--modes", default=",".join(TRACKINGS))
    ap.add_argument("--reference", default="detect", choices=TRACKINGS)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    import cv2

    from common.faces import make_detector, track_faces
    from common.frames import SampleLimits, iter_video

    cv2.setNumThreads(1)
    videos = sorted(p for p in args.data.rglob("*") if p.suffix in (".mp4", ".avi"))
    if not videos:
        print(f"no videos under {args.data}", file=sys.stderr)
        return 2
    modes = args.modes.split(",")
    det = Counting(make_detector("dlib"))
    stats = {m: {"moves": [], "found": 0, "detects": 0, "refits": 0, "cpu": []} for m in modes}
    total = 0
    load0 = os.getloadavg()[0]
    for v in videos:
        frames = list(iter_video(v, args.frames, SampleLimits(), "segments"))
        total += len(frames)
        ref = {f.frame_index: f.box for f in track_faces(frames, det, 128, args.reference)}
        for m in modes:
            cpu = []
            for _ in range(args.repeat):
                det.detects = det.refits = 0
                c0 = time.process_time()
                faces = track_faces(frames, det, 128, m)  # type: ignore[arg-type]
                cpu.append(time.process_time() - c0)
            s = stats[m]
            s["cpu"].append(float(np.median(cpu)))
            s["found"] += len(faces)
            s["detects"] += det.detects
            s["refits"] += det.refits
            s["moves"] += [moves(ref[f.frame_index], f.box) for f in faces if f.frame_index in ref]
    n = len(videos)
    print(
        f"{n} videos under {args.data}, {args.frames} frames (segments), {total} frames, "
        f"against {args.reference}; "
        f"load {load0:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(
        "mode       faces found   HOG/video refits/video  face CPU ms/video  "
        "IoU mean median p10 min   shift median p90   |log size| median p90"
    )
    for m in modes:
        s = stats[m]
        mv = np.array(s["moves"]).reshape(-1, 3)
        q = np.percentile
        print(
            f"{m:9s} {s['found']:5d}/{total:<5d} {s['detects'] / n:9.2f} {s['refits'] / n:10.2f} "
            f"{1e3 * float(np.mean(s['cpu'])):14.1f}      "
            f"{mv[:, 0].mean():.3f} {q(mv[:, 0], 50):.3f} {q(mv[:, 0], 10):.3f} "
            f"{mv[:, 0].min():.3f}    "
            f"{q(mv[:, 1], 50):.3f} {q(mv[:, 1], 90):.3f}        "
            f"{q(mv[:, 2], 50):.3f} {q(mv[:, 2], 90):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
