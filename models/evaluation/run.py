"""The ``dfscan evaluate`` driver: featurize (cached) chunk by chunk, score, write the files."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from common.features import select, video_vector
from common.nuisance import Nuisance
from common.settings import Settings
from models.bundle import ModelBundle, load_bundle
from models.evaluation.blocks import block, json_safe, per_method
from models.evaluation.control import shortcut_control
from models.evaluation.nuisance import nuisance_control, nuisance_table
from models.evaluation.plots import plot_det, plot_roc
from models.evaluation.report import write_report
from models.featurize import (
    Featurized,
    clip_columns,
    family_columns,
    featurize,
    matrix_for,
)
from models.manifest import Item
from models.trusted import Trust

SCORE_FIELDS = ("target", "label", "method", "group", "score", "predicted", "error")


@dataclass
class EvalOptions:
    out: Path
    model: Path | None = None
    split: str | None = None
    frames: int | None = None  # default: the bundle's frames_per_video
    cache: Path | None = None
    control: bool = True
    nuisance: bool = True  # face size, frame size, bitrate, length... against the labels
    workers: int = 1
    chunk: int = 256  # videos featurized and scored per step (streaming)
    control_max: int = 3000  # videos used by the control's cross-validation (random groups)
    seed: int = 0
    progress: bool = False


@dataclass
class _Acc:
    """What the report needs, kept as small arrays (one float per video / frame)."""

    scores: list[float] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    nuisance: list[Nuisance | None] = field(default_factory=list)
    frame_scores: list[float] = field(default_factory=list)
    frame_y: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    explain_sum: dict[str, dict[str, float]] = field(
        default_factory=lambda: {"real": defaultdict(float), "fake": defaultdict(float)}
    )
    explain_n: Counter[str] = field(default_factory=Counter)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)


def _frame_vectors(
    row: Featurized, families: Sequence[str], temporal: bool, spread: bool, every: int = 1
) -> np.ndarray:
    """Each frame the model measures (every ``every``-th face) of a row as a one-frame video
    (its clip families are the video's)."""
    assert row.matrix is not None
    sub, fams = row.matrix[::every, family_columns(families)], select(families)
    ccols = clip_columns(families)
    clip = row.clip[ccols] if len(ccols) and row.clip is not None else None
    return np.stack(
        [
            video_vector(sub[i : i + 1], fams, temporal, clip, spread=spread)
            for i in range(sub.shape[0])
        ]
    )


def _score_chunk(rows: list[Featurized], bundle: ModelBundle, writer, acc: _Acc) -> None:  # type: ignore[no-untyped-def]
    thr = bundle.threshold
    ok = [r for r in rows if r.matrix is not None and r.matrix.shape[0] > 0]
    scores: dict[int, float] = {}
    if ok:
        x, y, kept = matrix_for(ok, bundle)
        s = bundle.score(x)
        for r, v in zip(kept, s, strict=True):
            scores[id(r)] = float(v)
        for label, code in (("real", 0), ("fake", 1)):
            sel = y == code
            if sel.any():
                for fam, val in bundle.explain(x[sel]).items():
                    acc.explain_sum[label][fam] += val * int(sel.sum())
                acc.explain_n[label] += int(sel.sum())
        per_row = [
            _frame_vectors(r, bundle.families, bundle.temporal, bundle.spread, bundle.measure_every)
            for r in kept
        ]
        fv = np.concatenate(per_row)
        fy = np.concatenate([np.full(len(v), r.item.y) for r, v in zip(kept, per_row, strict=True)])
        acc.frame_scores.extend(bundle.score(fv).tolist())
        acc.frame_y.extend(fy.tolist())
    for r in rows:
        it = r.item
        acc.counts[(it.label, it.method or "-")] += 1
        if id(r) in scores:
            v = scores[id(r)]
            acc.scores.append(v)
            acc.y.append(it.y)
            acc.methods.append(it.method or "-")
            acc.groups.append(it.group or it.target)
            acc.targets.append(it.target)
            acc.nuisance.append(r.nuisance)
            pred = "fake" if v >= thr else "real"
            writer.writerow([it.target, it.label, it.method, it.group, f"{v:.6f}", pred, ""])
        else:
            code = r.error or "empty"
            acc.errors[code] += 1
            if len(acc.error_examples[code]) < 5:
                acc.error_examples[code].append(it.target)
            writer.writerow([it.target, it.label, it.method, it.group, "", "", code])


def _nuisance(acc: _Acc, s: np.ndarray, y: np.ndarray, opt: EvalOptions) -> dict[str, Any]:
    """The nuisance control of the scored videos; their measures go to nuisance.csv."""
    if not opt.nuisance:
        return {"skipped": "--no-nuisance"}
    table = nuisance_table(acc.nuisance)
    with (opt.out / "nuisance.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["target", "label", "method", "group", "score", *table])
        for i in range(s.size):
            vals = [f"{table[k][i]:.6g}" if np.isfinite(table[k][i]) else "" for k in table]
            head = [acc.targets[i], ("real", "fake")[y[i]], acc.methods[i], acc.groups[i]]
            writer.writerow([*head, f"{s[i]:.6f}", *vals])
    if not s.size:
        return {"skipped": "no video was scored"}
    return nuisance_control(table, y, acc.groups, s, methods=acc.methods, seed=opt.seed)


def evaluate(
    items: Sequence[Item],
    settings: Settings,
    opt: EvalOptions,
    *,
    manifests: Sequence[str] = (),
    bundle: ModelBundle | None = None,
) -> dict[str, Any]:
    """Featurize (cached), score, write scores.csv, metrics.json, roc.png, det.png, report.md."""
    bundle = bundle or load_bundle(opt.model, Trust.from_settings(settings))
    if opt.split:
        items = [it for it in items if it.split == opt.split]
    if not items:
        raise ValueError(f"no manifest rows{f' in split {opt.split!r}' if opt.split else ''}")
    frames = int(opt.frames or bundle.meta.get("frames_per_video", settings.frames_per_video))
    cfg = bundle.extract_config(settings, frames)
    kw: dict[str, Any] = dict(cache=opt.cache, workers=opt.workers, progress=opt.progress)
    face_kw = dict(kw, nuisance=opt.nuisance)
    opt.out.mkdir(parents=True, exist_ok=True)
    acc = _Acc()
    face_rows: list[Featurized] = []  # kept only when the control needs them (small matrices)
    with (opt.out / "scores.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(SCORE_FIELDS)
        for start in range(0, len(items), opt.chunk):
            rows = featurize(items[start : start + opt.chunk], settings, cfg, **face_kw)
            _score_chunk(rows, bundle, writer, acc)
            fh.flush()
            if opt.control:
                face_rows.extend(rows)
    thr = bundle.threshold
    s, y = np.asarray(acc.scores, float), np.asarray(acc.y, int)
    metrics: dict[str, Any] = {
        "video": block(s, y, thr),
        "frame": block(acc.frame_scores, acc.frame_y, thr),
        "per_method": per_method(s, y, acc.methods, thr) if s.size else {},
    }
    if opt.control:
        bg_cfg = replace(cfg, region="background")
        bg_rows: list[Featurized] = []
        for start in range(0, len(items), opt.chunk):
            bg_rows.extend(featurize(items[start : start + opt.chunk], settings, bg_cfg, **kw))
        metrics["control"] = shortcut_control(
            face_rows,
            bg_rows,
            bundle,
            metrics["video"].get("auc", float("nan")),
            limit=opt.control_max,
            seed=opt.seed,
        )
    else:
        metrics["control"] = {"skipped": "--no-control"}
    metrics["nuisance"] = _nuisance(acc, s, y, opt)
    metrics["errors"] = dict(acc.errors.most_common())
    metrics["error_examples"] = {k: v for k, v in acc.error_examples.items()}
    metrics["counts"] = {f"{lab}:{m}": n for (lab, m), n in sorted(acc.counts.items())}
    metrics["families_explain"] = {
        lab: {k: v / acc.explain_n[lab] for k, v in fam.items()}
        for lab, fam in acc.explain_sum.items()
        if acc.explain_n[lab]
    }
    metrics["meta"] = {
        "model_version": bundle.version,
        "families": list(bundle.families),
        "temporal": bundle.temporal,
        "threshold_rule": bundle.meta.get("threshold_rule"),
        "threshold_set_on": bundle.meta.get("threshold_set_on"),
        "detector": cfg.detector,
        "crop_size": cfg.crop_size,
        "frames": cfg.frames,
        "sampling": cfg.sampling,
        "tracking": cfg.tracking,
        "manifests": [str(m) for m in manifests],
        "split": opt.split,
        "n_items": len(items),
        "n_scored": int(s.size),
        "n_errors": int(sum(acc.errors.values())),
    }
    metrics = json_safe(metrics)
    (opt.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    title = f"{bundle.version}" + (f" / {opt.split}" if opt.split else "")
    plot_roc(s, y, acc.methods, thr, opt.out / "roc.png", f"ROC: {title}")
    plot_det(s, y, acc.methods, thr, opt.out / "det.png", f"DET: {title}")
    write_report(metrics, opt.out / "report.md")
    return metrics
