"""Every family's vector for a set of videos, to show that a code change left them bit-identical.

``scripts/check-scores`` compares the bundled model's scores, which use only the families that
model was trained on. This dumps, per video, the frame matrix (every frame family, registry
order), the clip families' vector and the video vector (every family, temporal included),
read and tracked as the scanner does, so that two code trees can be compared to the bit:

    .venv/bin/python -m research.vector_identity dump /tmp/new.npz ../shared/data/pristine
    (cd /tmp/old-tree && PYTHONPATH=. /work/wt-X/.venv/bin/python \\
        /work/wt-X/research/vector_identity.py dump /tmp/old.npz ../shared/data/pristine)
    .venv/bin/python -m research.vector_identity compare /tmp/old.npz /tmp/new.npz

Folders are searched for *.mp4 and *.avi. ``dump`` prints which tree's ``common`` it imported.
``compare`` exits 1 when any video differs (each is named, with the families that differ).
Reads research data; writes nothing into the repository.
"""

from __future__ import annotations

import os

# Single-threaded BLAS/OpenMP, as in a pool worker: set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def videos_under(roots: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for r in roots:
        if r.is_file():
            out.append(r)
        else:
            out += sorted(p for p in r.rglob("*") if p.suffix in (".mp4", ".avi"))
    return out


def dump(out: Path, roots: Sequence[Path], frames: int, tracking: str) -> int:
    import cv2

    import common
    from common.errors import ScanError
    from common.extract import ExtractConfig, extract
    from common.faces import make_detector
    from common.features import CLIP_FAMILIES, FAMILIES
    from common.settings import Settings

    cv2.setNumThreads(1)
    print(f"common from {Path(common.__file__).parent}", flush=True)
    cfg = ExtractConfig(
        FAMILIES, True, frames=frames, sampling="segments", tracking=tracking, clips=CLIP_FAMILIES
    )  # type: ignore[arg-type]
    settings, det = Settings(local_files=True), make_detector("dlib")
    arrays: dict[str, np.ndarray] = {}
    videos = videos_under(roots)
    for i, v in enumerate(videos):
        key = str(v.resolve())
        try:
            ex = extract(str(v), settings, cfg, detector=det)
        except ScanError as e:
            arrays[f"{key}|error"] = np.array(type(e).__name__)
            continue
        arrays[f"{key}|frames"] = ex.frame_matrix
        arrays[f"{key}|clip"] = ex.clip
        arrays[f"{key}|video"] = ex.vector
        arrays[f"{key}|index"] = np.array([f.frame_index for f in ex.faces])
        if i % 20 == 19:
            print(f"{i + 1}/{len(videos)}", flush=True)
    np.savez(out, **arrays)
    print(f"{len(videos)} videos, {frames} frames, tracking {tracking} -> {out}")
    return 0


def _family_diffs(kind: str, a: np.ndarray, b: np.ndarray) -> list[str]:
    """The families whose columns differ between two arrays of one kind and shape."""
    from common.features import CLIP_FAMILIES, FAMILIES, slices, video_layout

    if kind == "video":
        cols = video_layout(FAMILIES, True, CLIP_FAMILIES)
    else:
        fams = FAMILIES if kind == "frames" else CLIP_FAMILIES
        cols = {
            f.name: list(range(s.start, s.stop)) for f, s in zip(fams, slices(fams), strict=True)
        }
    return [n for n, c in cols.items() if not np.array_equal(a[..., c], b[..., c], equal_nan=True)]


def compare(a_path: Path, b_path: Path) -> int:
    a, b = np.load(a_path), np.load(b_path)
    keys = sorted(set(a.files) | set(b.files))
    videos = sorted({k.split("|")[0] for k in keys})
    differ = []
    for v in videos:
        parts = []
        for kind in ("error", "index", "frames", "clip", "video"):
            k = f"{v}|{kind}"
            x, y = (a[k] if k in a.files else None), (b[k] if k in b.files else None)
            if x is None and y is None:
                continue
            if x is None or y is None or x.shape != y.shape:
                parts.append(f"{kind} (present/shape)")
            elif not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                vectors = kind in ("frames", "clip", "video")
                extra = f" ({', '.join(_family_diffs(kind, x, y))})" if vectors else ""
                parts.append(kind + extra)
        if parts:
            differ.append(v)
            print(f"DIFFERS {v}: {'; '.join(parts)}")
    print(f"{len(videos) - len(differ)} of {len(videos)} videos bit-identical")
    return 1 if differ else 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("roots", nargs="+", type=Path)
    d.add_argument("--frames", type=int, default=16)
    d.add_argument("--tracking", default="landmarks")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        return dump(args.out, args.roots, args.frames, args.tracking)
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
