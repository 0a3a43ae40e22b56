"""Crop-jitter bench: how much a model's scores depend on where the face box falls.

HOG boxes are quantised (pyramid levels a 1.2x size step apart, 8 px cells). Between
consecutive frames of one face they move by ~7.5% of its side, and a change of tracking window
or tracker moves them as much: landmark tracking against detection, median 4.9% of the side
and 6.8% in size on the FF++ c40 frames. A speed change that alters crops is judged by AUC on
25 FF++ videos, where such moves alone shift AUC by more than the effect looked for. This
bench scores each model's evaluation videos with the boxes as detected and under ``--draws``
random draws of box jitter (``models.augment.BoxJitter``, the jitter of ``dfscan train
--box-jitter``) and reports per set:

- AUC with the boxes as detected, and over the draws (mean, min, max);
- stability: the median per-video standard deviation of the score over the draws, divided by
  the gap between the mean fake and mean real score (lower: the verdict depends less on box
  luck);
- the jitter-averaged AUC (each video's score averaged over the draws, which removes most of
  the box luck of one scan) and, for every model after the first, the paired bootstrap
  difference to the first model on it (over videos, 95% interval);
- the jitter-averaged AUC over real-fake pairs matched on face size and resolution, and a
  line per set saying whether face size, frame size, length... alone separate its classes
  (the nuisance control, models.evaluation.nuisance).

Sets: DeepfakeTIMIT-LQ val (5 unseen subjects, 50 real + 50 fake clips) and FF++ c40 (9 real
+ 16 fake videos, never trained on), from ../shared/data. Every model scans as its bundle says
(sampling, tracking), unless ``--tracking`` overrides the tracking for all of them.

    .venv/bin/python -m research.crop_jitter --model models/default --model /tmp/other \\
        [--draws 6] [--shift 0.035 --log-scale 0.1] [--data ../shared/data] [--out DIR]

Writes crop_jitter.json and crop_jitter.md into --out (default .cache/bench/crop_jitter).

    .venv/bin/python -m research.crop_jitter --box-moves [--data ../shared/data]

prints instead how far boxes move on the FF++ c40 frames: between consecutive frames
(detection), landmark tracking against detection, and a 1.6x tracking window against the
2.2x one (the jitter above is sized from these).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import sys
import warnings
from pathlib import Path

import numpy as np

from common import faces
from common.errors import ScanError
from common.extract import extract
from common.faces import detection
from common.frames import SampleLimits, iter_frames
from common.media import open_media
from common.nuisance import Nuisance
from common.settings import Settings, load_settings
from common.types import TRACKINGS, Box
from models.augment import BoxJitter
from models.bundle import load_bundle
from models.featurize import seed_for
from models.manifest import Item, deepfaketimit_items
from models.metrics import auc
from models.scanner import config_for
from models.trusted import Trust
from research.controls import confound_line, control, matched_cell

ROOT = Path(__file__).resolve().parents[1]


def eval_items(data: Path) -> dict[str, list[Item]]:
    dft = [it for it in deepfaketimit_items(data / "deepfaketimit_lq") if it.split == "val"]
    with (data / "ffpp_c40/manifest.csv").open() as fh:
        ff = [
            Item(str(data / r["path"]), r["label"], r["group"], "ffpp", r["method"])
            for r in csv.DictReader(fh)
        ]
    return {"DeepfakeTIMIT-LQ val": dft, "FF++ c40": ff}


_STATE: dict[str, object] = {}


def _init(model: str, settings: Settings) -> None:
    bundle = load_bundle(Path(model), Trust.from_settings(settings))
    _STATE.update(bundle=bundle, settings=settings, cfg=config_for(bundle, settings))


def _score(job: tuple[str, int | None, float, float]) -> tuple[float | None, Nuisance | None]:
    """The model's score of one target; boxes jittered with draw ``draw`` (None: as found);
    with the clip's nuisance measures (face size, frame size...)."""
    target, draw, shift, log_scale = job
    settings: Settings = _STATE["settings"]  # type: ignore[assignment]
    reframe = None
    if draw is not None:
        reframe = BoxJitter(seed_for(target, draw), shift, log_scale)
    try:
        ex = extract(target, settings, _STATE["cfg"], reframe=reframe)  # type: ignore[arg-type]
    except ScanError:
        return None, None
    return float(_STATE["bundle"].score(ex.vector)[0]), ex.nuisance  # type: ignore[attr-defined]


def score_model(
    model: str, targets: list[str], args: argparse.Namespace, settings: Settings
) -> tuple[np.ndarray, list[Nuisance | None]]:
    """(draws + 1, targets) scores, row 0 with the boxes as found, NaN where scanning failed;
    and each target's nuisance measures (boxes as found)."""
    draws: list[int | None] = [None, *range(args.draws)]
    jobs = [(t, d, args.shift, args.log_scale) for d in draws for t in targets]
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers, initializer=_init, initargs=(model, settings)) as pool:
        out = pool.map(_score, jobs, chunksize=4)
    scores = np.array([np.nan if s is None else s for s, _ in out])
    return scores.reshape(len(draws), len(targets)), [n for _, n in out[: len(targets)]]


def _auc(s: np.ndarray, y: np.ndarray) -> float:
    ok = ~np.isnan(s)
    return auc(s[ok], y[ok])


def summarise(scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():
        # a video no draw could scan is an all-NaN column: it drops out of every figure
        warnings.simplefilter("ignore", RuntimeWarning)
        return _summarise(scores, y)


def _summarise(scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    jit = scores[1:]
    per_draw = [_auc(row, y) for row in jit]
    gap = float(np.nanmean(jit[:, y == 1]) - np.nanmean(jit[:, y == 0]))
    sd = np.nanstd(jit, axis=0)
    return {
        "auc_as_found": _auc(scores[0], y),
        "auc_draws_mean": float(np.mean(per_draw)),
        "auc_draws_min": float(np.min(per_draw)),
        "auc_draws_max": float(np.max(per_draw)),
        "auc_jitter_averaged": _auc(np.nanmean(jit, axis=0), y),
        "score_sd_median": float(np.nanmedian(sd)),
        "class_gap": gap,
        "sd_over_gap": float(np.nanmedian(sd) / gap) if gap > 0 else float("nan"),
    }


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, n: int = 4000, seed: int = 0
) -> tuple[float, float, float]:
    """AUC(b) - AUC(a) on the same videos, with a 95% interval over resampled videos."""
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b, y = a[ok], b[ok], y[ok]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if y[i].all() or not y[i].any():
            continue
        diffs.append(auc(b[i], y[i]) - auc(a[i], y[i]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return auc(b, y) - auc(a, y), float(lo), float(hi)


def _moves(a: Box, b: Box) -> tuple[float, float]:
    side = max(a.w, a.h)
    shift = float(np.hypot(a.center[0] - b.center[0], a.center[1] - b.center[1])) / side
    return shift, abs(float(np.log(max(b.w, b.h) / side)))


def box_moves(data: Path, settings: Settings) -> dict[str, dict[str, list[float]]]:
    """Median and 90th percentile of the box moves (shift / side, |log size change|)."""
    det = faces.make_detector("dlib")
    pairs: dict[str, list[tuple[float, float]]] = {"consecutive": [], "landmarks": [], "w1.6": []}
    limits = SampleLimits(settings.max_pixels, settings.max_duration_s, float("inf"))
    window = detection.TRACK_WINDOW
    for it in eval_items(data)["FF++ c40"]:
        with open_media(it.target, settings) as media:
            frames = list(iter_frames(media, 16, limits, "segments"))
        plain = {f.frame_index: f.box for f in faces.track_faces(frames, det, 128)}
        other = {f.frame_index: f.box for f in faces.track_faces(frames, det, 128, "landmarks")}
        detection.TRACK_WINDOW = 1.6  # a bench-only experiment on the module's constant
        try:
            small = {f.frame_index: f.box for f in faces.track_faces(frames, det, 128)}
        finally:
            detection.TRACK_WINDOW = window
        for i, box in plain.items():
            if i - 1 in plain:
                pairs["consecutive"].append(_moves(plain[i - 1], box))
            for name, boxes in (("landmarks", other), ("w1.6", small)):
                if i in boxes:
                    pairs[name].append(_moves(box, boxes[i]))
    out = {}
    for name, moves in pairs.items():
        arr = np.array(moves)
        out[name] = {
            "shift": np.percentile(arr[:, 0], [50, 90]).round(3).tolist(),
            "log_size": np.percentile(arr[:, 1], [50, 90]).round(3).tolist(),
            "n": [len(arr)],
        }
    return out


def _md(result: dict) -> str:  # type: ignore[type-arg]
    a = result["args"]
    lines = [
        "# Crop-jitter bench",
        "",
        f"`python -m research.crop_jitter`: {a['draws']} draws of box jitter "
        f"(shift sd {a['shift']} of the",
        f"face side per axis, log-size sd {a['log_scale']}); tracking override: "
        f"{a['tracking'] or 'none'}.",
        "",
        "| set | model | AUC as found | AUC over draws: mean [min, max] | jitter-averaged AUC |"
        " jitter-averaged AUC, matched | score sd / class gap | vs first model (jitter-averaged) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for set_name, models in result["sets"].items():
        for name, m in models.items():
            d = m.get("vs_first")
            vs = f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]" if d else "-"
            lines.append(
                f"| {set_name} | {name} | {m['auc_as_found']:.3f} | {m['auc_draws_mean']:.3f} "
                f"[{m['auc_draws_min']:.3f}, {m['auc_draws_max']:.3f}] | "
                f"{m['auc_jitter_averaged']:.3f} | {m.get('matched_cell', '-')} | "
                f"{m['sd_over_gap']:.2f} | {vs} |"
            )
    lines += [
        "",
        "*Matched*: over real-fake pairs whose faces are within 20% in size and whose frames "
        "are within 10% in resolution (nuisance control, models.evaluation.nuisance).",
        "",
        *result.get("confounds", {}).values(),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", default=[], help="Bundle folder (repeat).")
    p.add_argument("--box-moves", action="store_true", help="Measure box moves instead.")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--draws", type=int, default=6)
    p.add_argument("--shift", type=float, default=0.035)
    p.add_argument("--log-scale", type=float, default=0.1)
    p.add_argument("--tracking", choices=TRACKINGS, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / ".cache/bench/crop_jitter")
    args = p.parse_args()
    if not (args.data / "ffpp_c40").is_dir() or not (args.data / "deepfaketimit_lq").is_dir():
        print(
            f"crop_jitter: no research data at {args.data} (ffpp_c40, deepfaketimit_lq); "
            "nothing measured",
            file=sys.stderr,
        )
        return 2
    settings = load_settings(**({"tracking": args.tracking} if args.tracking else {}))
    if args.box_moves:
        print(json.dumps(box_moves(args.data, settings), indent=1))
        return 0
    if not args.model:
        p.error("give at least one --model (or --box-moves)")
    sets = eval_items(args.data)
    result: dict = {
        "args": {k: v for k, v in vars(args).items() if k not in ("data", "out")},  # type: ignore[type-arg]
        "sets": {},
    }
    result["args"]["model"] = [str(m) for m in args.model]
    for set_name, items in sets.items():
        y = np.array([it.y for it in items])
        targets = [it.target for it in items]
        per_model: dict[str, dict] = {}  # type: ignore[type-arg]
        first: np.ndarray | None = None
        for model in args.model:
            scores, measures = score_model(model, targets, args, settings)
            summary = summarise(scores, y)
            averaged = np.nanmean(scores[1:], axis=0)
            ctl = control(items, measures, averaged)
            summary["matched"], summary["matched_cell"] = ctl["matched"], matched_cell(ctl)
            result.setdefault("confounds", {}).setdefault(set_name, confound_line(set_name, ctl))
            if first is None:
                first = averaged
            else:
                summary["vs_first"] = list(paired_bootstrap(first, averaged, y))
            print(set_name, Path(model).name, json.dumps(summary), flush=True)
            # per video, for paired comparisons across runs (e.g. other frame counts)
            summary["scores_as_found"] = scores[0].tolist()
            summary["scores_jitter_averaged"] = averaged.tolist()
            per_model[Path(model).name] = summary
        result.setdefault("targets", {})[set_name] = {"target": targets, "y": y.tolist()}
        result["sets"][set_name] = per_model
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "crop_jitter.json").write_text(json.dumps(result, indent=2))
    (args.out / "crop_jitter.md").write_text(_md(result))
    print(f"wrote {args.out}/crop_jitter.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
