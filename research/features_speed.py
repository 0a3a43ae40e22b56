"""CPU cost of the frame feature families per face crop, and a guard that outputs do not move.

Crops come from the pristine research videos when present (the project's own decode and dlib
face tracking, a few frames from each of several clips), else from the astronaut sample
frames of models.samples (said so in the output). Nothing is written into the repository.

    .venv/bin/python -m research.features_speed --save /tmp/feat_ref.npz   # before a change
    .venv/bin/python -m research.features_speed --check /tmp/feat_ref.npz  # after it

``--save`` stores the crops, masks and frame vectors; ``--check`` measures the crops stored in
the reference (the very same inputs) and fails unless every vector is
``np.allclose(rtol=1e-5, atol=1e-6)`` to the reference. Timing is single-threaded CPU time
(time.process_time) per crop, median over interleaved repeats; the machine is shared, so the
load average is printed with it. A family timed alone pays the shared grey conversion and
region masks itself; in ``frame_vector`` they are computed once per crop.
"""

from __future__ import annotations

import os

# Single-threaded BLAS/OpenMP: set before numpy is imported, or it has no effect.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from common.features import FAMILIES, frame_slices, frame_vector  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "pristine"
RTOL, ATOL = 1e-5, 1e-6


def pristine_crops(
    folder: Path, videos: int, per_video: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Face crops and masks from the first ``videos`` clips (sorted by name) that have faces."""
    from common.faces import make_detector, track_faces
    from common.frames import SampleLimits, iter_video

    det = make_detector("dlib")
    crops, masks, names = [], [], []
    for path in sorted(folder.glob("*.mp4")):
        if len(names) == videos:
            break
        faces = track_faces(list(iter_video(path, per_video, SampleLimits())), det, 128)
        if not faces:
            continue
        crops += [f.crop for f in faces]
        masks += [f.mask for f in faces]
        names.append(path.name)
    return crops, masks, names


def astronaut_crops(n: int) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    from common.faces import make_detector, track_faces
    from common.types import Frame
    from models.samples import sample_frames

    frames = [
        Frame(i, i / 25.0, im)
        for i, im in enumerate(sample_frames(n // 2) + sample_frames(n - n // 2, fake=True))
    ]
    faces = track_faces(frames, make_detector("dlib"), 128)
    return [f.crop for f in faces], [f.mask for f in faces], ["astronaut sample (real+fake)"]


def vectors(crops: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([frame_vector(c, m, FAMILIES) for c, m in zip(crops, masks, strict=True)])


def check(ref: np.ndarray, now: np.ndarray) -> bool:
    ok = bool(np.allclose(now, ref, rtol=RTOL, atol=ATOL))
    print(f"check against reference (rtol={RTOL:g}, atol={ATOL:g}): {'OK' if ok else 'FAILED'}")
    for fam, sl in zip(FAMILIES, frame_slices(FAMILIES), strict=True):
        diff = np.abs(now[:, sl].astype(np.float64) - ref[:, sl])
        fam_ok = np.allclose(now[:, sl], ref[:, sl], rtol=RTOL, atol=ATOL)
        rel = diff / (ATOL + RTOL * np.abs(ref[:, sl]))
        print(
            f"  {fam.name:10s} max |diff| {diff.max():.3g}  "
            f"worst diff/tolerance {rel.max():.3g}  {'ok' if fam_ok else 'FAIL'}"
        )
    return ok


def cpu_per_crop(fn: Callable[[np.ndarray, np.ndarray], object], crops, masks) -> float:
    """CPU seconds per crop for one pass of ``fn`` over all crops."""
    t0 = time.process_time()
    for c, m in zip(crops, masks, strict=True):
        fn(c, m)
    return (time.process_time() - t0) / len(crops)


def timings(crops, masks, repeats: int) -> dict[str, float]:
    """Median CPU ms per crop; all candidates interleaved within each repeat so that a burst
    of load on the shared machine hits all of them alike."""
    cands: dict[str, Callable[[np.ndarray, np.ndarray], object]] = {
        "frame_vector": lambda c, m: frame_vector(c, m, FAMILIES),
        **{f.name: f.fn for f in FAMILIES},
    }
    for fn in cands.values():  # warm-up: lru caches, imports, first-call allocations
        cpu_per_crop(fn, crops[:2], masks[:2])
    runs: dict[str, list[float]] = {k: [] for k in cands}
    for _ in range(repeats):
        for name, fn in cands.items():
            runs[name].append(cpu_per_crop(fn, crops, masks))
    return {k: 1e3 * float(np.median(v)) for k, v in runs.items()}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--save", type=Path, help="store crops, masks and vectors here")
    g.add_argument("--check", type=Path, help="compare with vectors stored by --save")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of pristine *.mp4")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--per-video", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)

    ref = None
    if args.check:
        ref = np.load(args.check)
        crops, masks = list(ref["crops"]), list(ref["masks"])
        source = f"crops stored in {args.check} ({ref['source']})"
    elif any(args.data.glob("*.mp4")):
        crops, masks, names = pristine_crops(args.data, args.videos, args.per_video)
        source = f"pristine videos: {', '.join(names)}"
    else:
        crops, masks, names = astronaut_crops(args.videos * args.per_video)
        source = f"NO research data at {args.data}; fallback: {names[0]}"
    print(f"{len(crops)} crops from {source}")

    now = vectors(crops, masks)
    if args.save:
        np.savez_compressed(
            args.save,
            crops=np.stack(crops),
            masks=np.stack(masks),
            vectors=now,
            source=np.array(source),
        )
        print(f"saved reference to {args.save}")

    load = os.getloadavg()
    ms = timings(crops, masks, args.repeats)
    load_after = os.getloadavg()
    print(
        f"CPU ms per crop (1 thread, median of {args.repeats}; "
        f"load avg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} -> {load_after[0]:.2f}, "
        f"{os.cpu_count()} CPUs):"
    )
    for name, v in ms.items():
        print(f"  {name:12s} {v:6.3f}")

    if ref is not None and not check(ref["vectors"], now):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
