"""Robustness bench: how the model's metrics move when the input gets worse.

Part A (metric drop): every evaluation video / frame folder is re-encoded harder and scored
again: JPEG quality 50 per frame, H.264 at CRF 35 through PyAV, downscale to 0.5. The drop in
AUC / EER / FAR / FRR against the identity copy is reported per dataset.

Part B (false flags on low-quality reals): real videos only, degraded *as a whole* (every
pixel of the frame alike, so no blending edge anywhere): recompressed, Gaussian-blurred,
rescaled down and up, colour-shifted. A detector of pasted faces should not flag them; the
FRR at the model threshold and the AUC of "degraded vs identity" reals are reported (0.5 =
the degradation does not move the score; near 1 = the model flags "low quality").

The frames are the ones the scanner samples (common.frames.iter_frames) with the sampling the
model was trained with (its meta's "sampling", as models.scanner.config_for; "segments" keeps
the scanner's fallback to the spread sample when the runs find too few faces), and the faces
are tracked as the model records ("tracking"). The identity copy is those frames saved as
JPEG q95 (lossless PNG for small frames), and every variant is made from the same frames, so
only the degradation differs between a variant and its baseline. The scanner reads a frame
folder in order, so the saved runs stay runs.

    .venv/bin/python -m research.robustness [--data ../shared/data] [--model DIR] [--out DIR]

Reads ../shared/data when present and says so clearly when not. Writes robustness.json and
robustness.md into --out (default .cache/bench/robustness).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from common.errors import ScanError
from common.extract import ExtractConfig
from common.faces import make_detector, track_faces
from common.features import FAMILIES
from common.frames import SampleLimits, iter_frames
from common.media import open_media
from common.settings import Settings, load_settings
from common.types import Frame
from models.bundle import load_bundle
from models.datasets import deepfaketimit
from models.evaluation.blocks import block, json_safe
from models.featurize import featurize, matrix_for
from models.manifest import Item, read_manifest
from models.metrics import auc
from models.trusted import Trust
from research.degradations import ATTACKS, REAL_DEGRADATIONS, Frames

ROOT = Path(__file__).resolve().parents[1]

FaceCount = Callable[[list[Frame]], int]


# --- Frame folders ----------------------------------------------------------------------------


@dataclass
class Source:
    item: Item
    dataset: str


def _key(target: str) -> str:
    return hashlib.sha256(target.encode()).hexdigest()[:16]


def reading(bundle) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(sampling, tracking) the bundle was trained with; its meta wins, as in config_for."""
    return str(bundle.meta.get("sampling", "spread")), str(bundle.meta.get("tracking", "detect"))


def face_counter(bundle, tracking: str) -> FaceCount:  # type: ignore[no-untyped-def]
    """Faces the scanner would keep from some frames (the bundle's detector and crops)."""
    det = make_detector(str(bundle.meta.get("detector", "dlib")))
    crop = int(bundle.meta.get("crop_size", 128))
    return lambda frames: len(track_faces(frames, det, crop, tracking))


def base_frames(
    target: str,
    n: int,
    settings: Settings,
    sampling: str = "spread",
    faces: FaceCount | None = None,
) -> Frames:
    """The frames the scanner samples; runs with faces in under half their frames give way to
    the spread sample when it has more (common.extract.extract does the same)."""
    limits = SampleLimits(settings.max_pixels, settings.max_duration_s, time.monotonic() + 600)
    with open_media(target, settings) as media:
        frames = list(iter_frames(media, n, limits, sampling))
        if sampling == "spread" or media.kind != "video" or faces is None:
            return [f.image for f in frames]
        found = faces(frames)
        if 2 * found < len(frames):
            try:
                spread = list(iter_frames(media, n, limits, "spread"))
            except ScanError:  # damage past the runs: keep what the runs gave
                spread = []
            if spread and faces(spread) > found:
                print(f"  spread fallback: {target}", file=sys.stderr)
                frames = spread
        return [f.image for f in frames]


def write_folder(folder: Path, frames: Frames) -> None:
    """Frames as a folder the scanner reads; small frames lossless (PNG), large JPEG q95."""
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(frames):
        if img.shape[0] * img.shape[1] <= 512 * 512:
            cv2.imwrite(str(tmp / f"{i:04d}.png"), img)
        else:
            cv2.imwrite(str(tmp / f"{i:04d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    tmp.rename(folder)


def make_variants(
    sources: list[Source],
    variants: dict[str, Callable[[Frames], Frames]],
    work: Path,
    read: Callable[[str], Frames],
) -> dict[str, list[Source]]:
    """{variant: sources pointing at degraded copies}; "identity" = the frames re-saved."""
    out: dict[str, list[Source]] = {"identity": [], **{v: [] for v in variants}}
    for k, src in enumerate(sources):
        key = _key(src.item.target)
        todo = [v for v in out if not (work / v / key).is_dir()]
        if todo:
            try:
                frames = read(src.item.target)
            except Exception as exc:  # noqa: BLE001 - a bad input is reported, not fatal
                print(f"  skip {src.item.target}: {exc}", file=sys.stderr)
                continue
            for v in todo:
                made = frames if v == "identity" else variants[v](frames)
                write_folder(work / v / key, made)
        for v in out:
            it = src.item
            out[v].append(
                Source(Item(str(work / v / key), it.label, it.group, it.split, it.method),
                       src.dataset)
            )  # fmt: skip
        if (k + 1) % 10 == 0:
            print(f"  frames: {k + 1}/{len(sources)}", file=sys.stderr, flush=True)
    return out


# --- Scoring ----------------------------------------------------------------------------------


def score(sources: list[Source], bundle, settings: Settings, cache: Path, workers: int):  # type: ignore[no-untyped-def]
    sampling, tracking = reading(bundle)
    cfg = ExtractConfig(
        FAMILIES,
        detector=str(bundle.meta.get("detector", "dlib")),
        crop_size=int(bundle.meta.get("crop_size", 128)),
        frames=int(bundle.meta.get("frames_per_video", 16)),
        sampling=sampling,  # frame folders are read alike by every sampling
        tracking=tracking,
    )
    rows = featurize([s.item for s in sources], settings, cfg, cache=cache, workers=workers)
    by_target = {s.item.target: s.dataset for s in sources}
    ok = [r for r in rows if r.matrix is not None]
    out: dict[str, float] = {}
    if ok:
        x, _, kept = matrix_for(ok, bundle)
        for r, v in zip(kept, bundle.score(x), strict=True):
            out[r.item.target] = float(v)
    return out, by_target


def _strip(b: dict) -> dict:
    keys = ("auc", "eer", "far", "frr", "hter", "n_real", "n_fake")
    return {k: b.get(k) for k in keys}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--model", type=Path, default=None, help="bundle (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=ROOT / ".cache" / "bench" / "robustness")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache" / "features")
    ap.add_argument("--frames", type=int, default=16, help="frames taken from each video")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="at most this many items per dataset")
    args = ap.parse_args()

    if not args.data.is_dir():
        print(
            f"NO DATA: {args.data} does not exist. This bench needs ../shared/data "
            "(deepfaketimit_lq, ffpp_c40, pristine); nothing was measured.",
            file=sys.stderr,
        )
        return 2
    settings = load_settings()
    bundle = load_bundle(args.model, Trust.from_settings(settings))
    thr = bundle.threshold
    sources: list[Source] = []
    found = []
    dft = args.data / "deepfaketimit_lq"
    if dft.is_dir():
        found.append("deepfaketimit_lq val")
        val = [it for it in deepfaketimit(dft) if it.split == "val"]
        sources += [Source(it, "deepfaketimit_lq_val") for it in val[: args.limit or None]]
    for name in ("ffpp_c40", "pristine"):
        m = args.data / name / "manifest.csv"
        if m.is_file():
            found.append(name)
            items = read_manifest(m, root=args.data)
            sources += [Source(it, name) for it in items[: args.limit or None]]
    missing = {"deepfaketimit_lq val", "ffpp_c40", "pristine"} - set(found)
    if missing:
        print(f"NOTE: not found under {args.data}: {', '.join(sorted(missing))}", file=sys.stderr)
    if not sources:
        print("NO DATA: no dataset found; nothing was measured.", file=sys.stderr)
        return 2

    sampling, tracking = reading(bundle)
    # Folders are keyed by target only, so each sampling keeps its own (spread: as before).
    work = args.out / ("frames" if sampling == "spread" else f"frames-{sampling}")
    faces = None if sampling == "spread" else face_counter(bundle, tracking)
    read = functools.partial(
        base_frames, n=args.frames, settings=settings, sampling=sampling, faces=faces
    )
    t0 = time.time()
    print(f"making variants of {len(sources)} items (sampling {sampling})", file=sys.stderr)
    attacked = make_variants([s for s in sources if s.dataset != "pristine"], ATTACKS, work, read)
    reals = [s for s in sources if s.item.label == "real"]
    degraded = make_variants(reals, REAL_DEGRADATIONS, work, read)

    result: dict = {
        "model_version": bundle.version,
        "threshold": thr,
        "datasets": found,
        "frames_per_item": args.frames,
        "sampling": sampling,
        "tracking": tracking,
        "attacks": {},
        "real_degradations": {},
    }
    # Part A.
    base: dict[str, dict] = {}
    for variant, srcs in attacked.items():
        scores, ds_of = score(srcs, bundle, settings, args.cache, args.workers)
        for ds in sorted({s.dataset for s in srcs}):
            sel = [s for s in srcs if s.dataset == ds and s.item.target in scores]
            s = np.array([scores[x.item.target] for x in sel])
            y = np.array([x.item.y for x in sel])
            b = _strip(block(s, y, thr))
            if variant == "identity":
                base[ds] = b
            else:
                b["delta"] = {
                    k: (None if b[k] is None or base[ds][k] is None else b[k] - base[ds][k])
                    for k in ("auc", "eer", "far", "frr", "hter")
                }
            result["attacks"].setdefault(ds, {})[variant] = b
        print(f"  scored {variant}", file=sys.stderr, flush=True)
    # Part B.
    ident_scores, _ = score(degraded["identity"], bundle, settings, args.cache, args.workers)
    for variant, srcs in degraded.items():
        scores = ident_scores if variant == "identity" else score(
            srcs, bundle, settings, args.cache, args.workers
        )[0]  # fmt: skip
        for ds in sorted({s.dataset for s in srcs}):
            pairs = [
                (ident_scores[i.item.target], scores[d.item.target])
                for i, d in zip(degraded["identity"], srcs, strict=True)
                if d.dataset == ds and i.item.target in ident_scores and d.item.target in scores
            ]
            if not pairs:
                continue
            a, d = np.array(pairs).T
            entry = {
                "n": len(pairs),
                "frr": float(np.mean(d >= thr)),
                "mean_score": float(d.mean()),
                "mean_shift": float((d - a).mean()),
            }
            if variant != "identity":
                yy = np.r_[np.zeros(len(a), int), np.ones(len(d), int)]
                entry["auc_vs_identity"] = auc(np.r_[a, d], yy)
            result["real_degradations"].setdefault(ds, {})[variant] = entry
        print(f"  scored real {variant}", file=sys.stderr, flush=True)
    result["seconds"] = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "robustness.json").write_text(json.dumps(json_safe(result), indent=2) + "\n")
    (args.out / "robustness.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def _p(v) -> str:  # type: ignore[no-untyped-def]
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%"


def _d(v) -> str:  # type: ignore[no-untyped-def]
    return "–" if v is None or not np.isfinite(v) else f"{v:+.3f}"


def _reading(r: dict) -> str:
    s = f"sampling `{r.get('sampling', 'spread')}`"
    t = r.get("tracking", "detect")
    return s if t == "detect" else f"{s}, tracking `{t}`"


def markdown(r: dict) -> str:
    lines = [
        "# Robustness",
        "",
        f"Model `{r['model_version']}`, threshold P(fake) >= {r['threshold']:.4f}; data: "
        f"{', '.join(r['datasets'])}; {r['frames_per_item']} sampled frames per item "
        f"({_reading(r)}); made by `python -m research.robustness`.",
        "",
        "## A. Harder encodings of the evaluation videos (real and fake alike)",
        "",
        "| dataset | variant | AUC | ΔAUC | EER | ΔEER | FAR | ΔFAR | FRR | ΔFRR |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ds, variants in r["attacks"].items():
        for v, b in variants.items():
            dl = b.get("delta", {})
            auc_s = "–" if b["auc"] is None or not np.isfinite(b["auc"]) else f"{b['auc']:.3f}"
            lines.append(
                f"| {ds} | {v} | {auc_s} | {_d(dl.get('auc'))} | {_p(b['eer'])} | "
                f"{_d(dl.get('eer'))} | {_p(b['far'])} | {_d(dl.get('far'))} | {_p(b['frr'])} "
                f"| {_d(dl.get('frr'))} |"
            )
    lines += [
        "",
        "## B. Real videos degraded as a whole (no blending edge anywhere)",
        "",
        "FRR = share of these real videos flagged at the model threshold; AUC vs identity = "
        "how well the score tells the degraded copies from the identity copies of the same "
        "reals (0.5: the degradation does not move the score; near 1: the model flags "
        "quality, not faces).",
        "",
        "| dataset | degradation | n | FRR | mean score | mean shift | AUC vs identity |",
        "|---|---|---|---|---|---|---|",
    ]
    for ds, variants in r["real_degradations"].items():
        for v, e in variants.items():
            a = e.get("auc_vs_identity")
            lines.append(
                f"| {ds} | {v} | {e['n']} | {_p(e['frr'])} | {e['mean_score']:.3f} | "
                f"{e['mean_shift']:+.3f} | {'–' if a is None else f'{a:.3f}'} |"
            )
    lines += ["", f"Run time {r['seconds'] / 60:.1f} min.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
