"""Training regimes compared on held-out data: which model should ship?

For each regime (what the SVM is trained on), with grouped model selection and the
threshold rule of `dfscan train` (FRR target per source of reals, on dev + out-of-fold):

- DeepfakeTIMIT-LQ val (5 unseen subjects): video AUC, EER, FAR and FRR at the threshold;
- pristine videos: FRR at the threshold. Where pristine clips are part of the training set,
  they are scored by models trained without their person (4 folds by `group`), so the
  figure is an honest out-of-sample FRR;
- FaceForensics++ c40 (never trained on): AUC overall and per method, FAR/FRR at threshold.

On both scored sets, the nuisance control (models.evaluation.nuisance): the AUC over
real-fake pairs matched on face size and resolution beside the AUC over all pairs, and a
line per set saying whether face size, frame size, length... separate its classes alone.

    .venv/bin/python -m research.regimes [--data ../shared/data] [--out docs/regimes.md]
        [--sampling spread|segments] [--tracking detect|landmarks]

Every regime reads the videos alike: frame sampling and face tracking as given (default
spread / detect, as docs/regimes.md was made); the header names them when not default.

Reads ../shared/data (research data, never copied into the repository); says so and exits
when it is absent. Features come from the disk cache (.cache/features).
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.extract import ExtractConfig
from common.features import FAMILIES as ALL_FRAME_FAMILIES
from common.settings import load_settings
from models.classifier import pipeline_from_params
from models.featurize import Featurized, featurize, video_matrix
from models.manifest import Item, deepfaketimit_items
from models.metrics import auc, eer, rates_at
from models.selection import choose_threshold, out_of_fold, train
from research.controls import confound_line, control, matched_cell

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = ("frequency", "quality", "boundary", "texture")
GRID = [{"svm__kernel": ["rbf"], "svm__C": [1.0, 3.0, 10.0], "svm__gamma": ["scale", 0.003]}]
FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
READING = {"sampling": "spread", "tracking": "detect"}  # defaults: header stays as it was


@dataclass(frozen=True)
class Regime:
    name: str
    dft_fakes: bool  # the DeepfakeTIMIT train fakes
    pristine: bool  # pristine reals (and their pseudo-fakes) in training
    self_blend: bool
    augmented: bool
    note: str


REGIMES = (
    Regime("as-is", True, False, False, False, "DeepfakeTIMIT train split as it is"),
    Regime("sbi", False, True, True, False, "self-blends of DFTIMIT train reals + pristine"),
    Regime(
        "sbi+aug",
        False,
        True,
        True,
        True,
        "as sbi, plus 2 degraded copies of every real clip and of its self-blend",
    ),
    Regime("dft+sbi+aug", True, True, True, True, "as sbi+aug, plus the DeepfakeTIMIT fakes"),
)


def _items(data: Path) -> tuple[list[Item], list[Item], list[Item]]:
    dft = list(deepfaketimit_items(data / "deepfaketimit_lq"))
    with (data / "pristine/manifest.csv").open() as fh:
        pr = [
            Item(str(data / r["path"]), "real", r["group"], "pristine", "pristine")
            for r in csv.DictReader(fh)
        ]
    with (data / "ffpp_c40/manifest.csv").open() as fh:
        ff = [
            Item(str(data / r["path"]), r["label"], r["group"], "ffpp", r["method"])
            for r in csv.DictReader(fh)
        ]
    return dft, pr, ff


def _keep(r: Featurized, reg: Regime) -> bool:
    m = r.item.method
    if "degraded" in m and not reg.augmented:
        return False
    if "self-blend" in m:
        return reg.self_blend
    return r.item.label == "real" or reg.dft_fakes


def _fit(rows: list[Featurized], dev_rows: list[Featurized], rule: str, params=None):  # type: ignore[no-untyped-def]
    x, y, k = video_matrix(rows, FAMILIES)
    g = np.array([r.item.group for r in k])
    dom = np.array([r.item.method for r in k])
    xd, yd, dk = video_matrix(dev_rows, FAMILIES)
    ddom = np.array([r.item.method for r in dk])
    if params is None:
        res = train(
            x, y, g, dev=(xd, yd), threshold_rule=rule, domains=dom, dev_domains=ddom, grid=GRID
        )
        return res.pipeline, res.params, res.threshold
    pipe = pipeline_from_params(params).fit(x, y)
    oof = out_of_fold(pipe, x, y, g, 0)
    sd = pipe.predict_proba(xd)[:, 1]
    thr = choose_threshold(np.r_[oof, sd], np.r_[y, yd], rule, np.r_[dom, ddom])
    return pipe, params, thr


def _score(pipe, rows):  # type: ignore[no-untyped-def]
    x, y, k = video_matrix(rows, FAMILIES)
    return pipe.predict_proba(x)[:, 1], y, k


def evaluate_regime(reg: Regime, dft, pr, ff, rule: str, pr_eval=None) -> dict:  # type: ignore[no-untyped-def]
    """``pr_eval``: the pristine rows to score, when they are read otherwise than ``pr`` (the
    training rows; with --box-jitter those are jittered, the scored ones are not)."""
    train_dft = [r for r in dft if r.item.split == "train" and _keep(r, reg)]
    train_pr = [r for r in pr if _keep(r, reg)] if reg.pristine else []
    # The threshold's dev reals: val real clips as they are (no val fake is ever used).
    dev = [r for r in dft if r.item.split == "val" and r.item.method == "vidtimit"]
    pipe, params, thr = _fit(train_dft + train_pr, dev, rule)
    val = [
        r for r in dft if r.item.split == "val" and r.item.method in ("vidtimit", "faceswap-gan")
    ]
    sv, yv, kv = _score(pipe, val)
    at = rates_at(sv, yv, thr)
    out = {
        "regime": reg.name,
        "note": reg.note,
        "params": params,
        "threshold": thr,
        "val": {"auc": auc(sv, yv), "eer": eer(sv, yv).far, "far": at.far, "frr": at.frr},
    }
    out["val"]["nuisance"] = _control(kv, sv, "DeepfakeTIMIT-LQ val")
    pr_plain = [r for r in (pr_eval or pr) if r.item.method == "pristine"]
    if reg.pristine:  # honest: each person scored by a model that never saw them
        groups = sorted({r.item.group for r in pr_plain})
        rng = np.random.default_rng(0)
        rng.shuffle(groups)
        held = []
        for fold in np.array_split(np.array(groups), 4):
            rows = train_dft + [r for r in train_pr if r.item.group not in set(fold)]
            p2, _, t2 = _fit(rows, dev, rule, params)
            s, _, _ = _score(p2, [r for r in pr_plain if r.item.group in set(fold)])
            held += list(s >= t2)
        out["pristine_frr"] = float(np.mean(held))
        out["pristine_frr_how"] = "held out by person (4 folds)"
    else:
        s, _, _ = _score(pipe, pr_plain)
        out["pristine_frr"] = float(np.mean(s >= thr))
        out["pristine_frr_how"] = "never trained on"
    sf, yf, kf = _score(pipe, ff)
    at = rates_at(sf, yf, thr)
    out["ffpp"] = {"auc": auc(sf, yf), "far": at.far, "frr": at.frr, "n": len(yf)}
    for m in FF_METHODS:
        idx = np.array([r.item.label == "real" or r.item.method == m for r in kf])
        out["ffpp"][m] = auc(sf[idx], yf[idx])
    out["ffpp"]["nuisance"] = _control(kf, sf, "FF++ c40")
    return out


def _control(rows: list[Featurized], scores: np.ndarray, set_name: str) -> dict:  # type: ignore[type-arg]
    """The nuisance control's figures a regime table needs (the rest is in the verdict)."""
    ctl = control([r.item for r in rows], [r.nuisance for r in rows], scores)
    return {
        "matched": ctl["matched"],
        "alarm": ctl["alarm"],
        "separating": ctl["separating"],
        "line": confound_line(set_name, ctl),
        "matched_cell": matched_cell(ctl),
    }


def _reading_note(reading: dict[str, str]) -> str:
    """The header's note of what differs from READING (empty when nothing does)."""
    odd = [f"{k} `{v}`" for k, v in reading.items() if READING.get(k) != v]
    return f" Frames: {', '.join(odd)}." if odd else ""


def _md(results: list[dict], rule: str, reading: dict[str, str] | None = None) -> str:  # type: ignore[type-arg]
    lines = [
        "# Training regimes",
        "",
        f"Threshold rule: `{rule}` per source of reals, on DFTIMIT val reals + out-of-fold "
        f"training scores. Families: {', '.join(FAMILIES)} + temporal."
        f"{_reading_note(reading or READING)} Generated by `python -m research.regimes`.",
        "",
        "| regime | val AUC | val AUC, matched | val EER | val FAR | val FRR | pristine FRR | "
        "FF++ c40 AUC | FF++ c40 AUC, matched | FF DF / F2F / FS / NT | FF FAR | FF FRR |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        v, f = r["val"], r["ffpp"]
        per = " / ".join(f"{f[m]:.2f}" for m in FF_METHODS)
        lines.append(
            f"| {r['regime']} | {v['auc']:.3f} | {v['nuisance']['matched_cell']} | "
            f"{v['eer']:.3f} | {v['far']:.2f} | {v['frr']:.2f} | "
            f"{r['pristine_frr']:.2f} ({r['pristine_frr_how']}) | {f['auc']:.3f} | "
            f"{f['nuisance']['matched_cell']} | {per} | {f['far']:.2f} | {f['frr']:.2f} |"
        )
    lines += ["", *[f"- **{r['regime']}**: {r['note']}; SVM {r['params']}" for r in results]]
    if results:
        lines += [
            "",
            "Nuisance control (models.evaluation.nuisance; the variables do not depend on the "
            "regime). *Matched*: the AUC over real-fake pairs whose faces are within 20% in "
            "size and whose frames are within 10% in resolution.",
            "",
            results[0]["val"]["nuisance"]["line"],
            results[0]["ffpp"]["nuisance"]["line"],
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "regimes.md")
    ap.add_argument("--threshold", default="frr:0.05")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache" / "features")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--families", help="comma-separated family subset (default: all four)")
    ap.add_argument("--regimes", help="comma-separated regime names (default: all)")
    ap.add_argument("--sampling", choices=("spread", "segments"), default="spread")
    ap.add_argument("--tracking", choices=("detect", "landmarks"), default="detect")
    ap.add_argument(
        "--box-jitter",
        type=float,
        nargs=2,
        metavar=("SHIFT", "LOG_SCALE"),
        help="train on jittered face boxes as `dfscan train --box-jitter`; scored rows are not",
    )
    args = ap.parse_args()
    if not (args.data / "deepfaketimit_lq").is_dir():
        print(f"no research data at {args.data}: nothing to compare (see ../shared/data)")
        return 2
    global FAMILIES
    if args.families:
        FAMILIES = tuple(args.families.split(","))
    regimes = [r for r in REGIMES if not args.regimes or r.name in args.regimes.split(",")]
    settings = load_settings()
    dft_items, pr_items, ff_items = _items(args.data)
    reading = {"sampling": args.sampling, "tracking": args.tracking}
    cfg = ExtractConfig(ALL_FRAME_FAMILIES, **reading)
    kw = {"cache": args.cache, "workers": args.workers}
    jit = tuple(args.box_jitter) if args.box_jitter else None
    train_dft = [it for it in dft_items if it.split != "val"]
    dft = featurize(train_dft, settings, cfg, self_blend_seed=1, augment=2, box_jitter=jit, **kw)
    dft += featurize(
        [it for it in dft_items if it.split == "val"],
        settings,
        cfg,
        self_blend_seed=1,
        augment=2,
        nuisance=True,  # the val clips as they are carry their measures (nuisance control)
        **kw,
    )
    pr = featurize(pr_items, settings, cfg, self_blend_seed=1, augment=2, box_jitter=jit, **kw)
    pr_eval = featurize(pr_items, settings, cfg, **kw) if jit else None
    ff = featurize(ff_items, settings, cfg, nuisance=True, **kw)
    results = [evaluate_regime(reg, dft, pr, ff, args.threshold, pr_eval) for reg in regimes]
    if jit:
        reading["box_jitter"] = f"{jit[0]} {jit[1]}"
    odd = {k: v for k, v in reading.items() if READING.get(k) != v}
    results = [{**r, **odd} for r in results]  # the json as before when nothing is odd
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_md(results, args.threshold, reading))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    print(_md(results, args.threshold, reading))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
