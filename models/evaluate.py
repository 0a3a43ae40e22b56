"""``dfscan evaluate``: score a labelled manifest with a model bundle and report how it did.

Writes, into one folder:

- ``scores.csv``: one row per video (streamed chunk by chunk, so manifests of thousands of
  rows never sit in memory as results): target, label, method, group, score, predicted, error;
- ``metrics.json``: video-level and frame-level metrics at the bundle's threshold (AUC, EER,
  FAR = fakes accepted as real / APCER, FRR = reals flagged / BPCER, HTER, FAR at FRR 1% and
  5%), the same per manipulation method (that method's fakes against all reals), and the
  shortcut control;
- ``roc.png`` and ``det.png`` (DET on normal-deviate axes, Martin et al. 1997);
- ``report.md``: the same, readable, with the errors and the families that drove the scores.

Shortcut control (issue 3, item 9): the same feature families and the same classifier
protocol (scaler + SVM with the bundle's hyper-parameters, grouped cross-validation) are run
on a same-size patch of *background* with no face in it. If the background alone separates
real from fake, the dataset is confounded (codec, camera, backdrop) and a face-level score on
it proves little; the report says so in plain words.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.features import FAMILIES, frame_slices, select, video_vector
from common.settings import Settings
from models.bundle import ModelBundle, load_bundle
from models.featurize import Featurized, featurize, video_matrix
from models.manifest import Item
from models.metrics import auc, far_at_frr, roc, summary

CONFOUND_AUC = 0.75  # control AUC at or above this: background alone separates the classes
SCORE_FIELDS = ("target", "label", "method", "group", "score", "predicted", "error")


@dataclass
class EvalOptions:
    out: Path
    model: Path | None = None
    split: str | None = None
    frames: int | None = None  # default: the bundle's frames_per_video
    cache: Path | None = None
    control: bool = True
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
    frame_scores: list[float] = field(default_factory=list)
    frame_y: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    explain_sum: dict[str, dict[str, float]] = field(
        default_factory=lambda: {"real": defaultdict(float), "fake": defaultdict(float)}
    )
    explain_n: Counter[str] = field(default_factory=Counter)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def block(scores: Sequence[float], y: Sequence[int], threshold: float) -> dict[str, Any]:
    """The metrics block: AUC, EER, FAR/FRR/HTER at ``threshold``, FAR at FRR 1% and 5%.

    With one class only, the rates that need the other class are NaN (null in JSON).
    """
    s, yy = np.asarray(scores, float), np.asarray(y, int)
    n_real, n_fake = int(np.sum(yy == 0)), int(np.sum(yy == 1))
    if s.size == 0:
        return {"n_real": 0, "n_fake": 0}
    out: dict[str, Any] = {"threshold": float(threshold)}
    if n_real and n_fake:
        out.update(summary(s, yy, threshold))
        for pct in (1, 5):
            at = far_at_frr(s, yy, pct / 100)
            out[f"far_at_frr_{pct}pct"] = at.far
            out[f"threshold_at_frr_{pct}pct"] = at.threshold
    else:
        # Rates of the class present only: FRR of reals, FAR of fakes.
        frr = float(np.mean(s[yy == 0] >= threshold)) if n_real else float("nan")
        far = float(np.mean(s[yy == 1] < threshold)) if n_fake else float("nan")
        out.update(
            auc=float("nan"), eer=float("nan"), far=far, frr=frr, hter=float("nan"),
            far_at_frr_1pct=float("nan"), far_at_frr_5pct=float("nan"),
        )  # fmt: skip
    out["threshold"] = float(threshold)
    out["n_real"], out["n_fake"] = n_real, n_fake
    return out


def _frame_vectors(matrix: np.ndarray, cols: np.ndarray, fams, temporal: bool) -> np.ndarray:
    sub = matrix[:, cols]
    return np.stack([video_vector(sub[i : i + 1], fams, temporal) for i in range(sub.shape[0])])


def _columns(families: Sequence[str]) -> np.ndarray:
    all_slices = dict(zip([f.name for f in FAMILIES], frame_slices(FAMILIES), strict=True))
    return np.concatenate(
        [np.arange(all_slices[f.name].start, all_slices[f.name].stop) for f in select(families)]
    )


def _score_chunk(rows: list[Featurized], bundle: ModelBundle, writer, acc: _Acc) -> None:  # type: ignore[no-untyped-def]
    fams = select(bundle.families)
    cols = _columns(bundle.families)
    thr = bundle.threshold
    ok = [r for r in rows if r.matrix is not None and r.matrix.shape[0] > 0]
    scores: dict[int, float] = {}
    if ok:
        x, y, kept = video_matrix(ok, bundle.families, bundle.temporal)
        s = bundle.score(x)
        for r, v in zip(kept, s, strict=True):
            scores[id(r)] = float(v)
        for label, code in (("real", 0), ("fake", 1)):
            sel = y == code
            if sel.any():
                for fam, val in bundle.explain(x[sel]).items():
                    acc.explain_sum[label][fam] += val * int(sel.sum())
                acc.explain_n[label] += int(sel.sum())
        fv = np.concatenate([_frame_vectors(r.matrix, cols, fams, bundle.temporal) for r in kept])
        fy = np.concatenate([np.full(r.matrix.shape[0], r.item.y) for r in kept])
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
            pred = "fake" if v >= thr else "real"
            writer.writerow([it.target, it.label, it.method, it.group, f"{v:.6f}", pred, ""])
        else:
            code = r.error or "empty"
            acc.errors[code] += 1
            if len(acc.error_examples[code]) < 5:
                acc.error_examples[code].append(it.target)
            writer.writerow([it.target, it.label, it.method, it.group, "", "", code])


def per_method(scores: np.ndarray, y: np.ndarray, methods: Sequence[str], thr: float) -> dict:
    """Each fake method's fakes against *all* reals; each real source's FRR on its own."""
    m = np.asarray(methods)
    out: dict[str, dict[str, Any]] = {}
    real = y == 0
    for name in sorted(set(m[y == 1].tolist())):
        sel = real | ((y == 1) & (m == name))
        out[name] = block(scores[sel], y[sel], thr)
    for name in sorted(set(m[real].tolist())):
        if name in out:
            continue
        sel = real & (m == name)
        out[name] = block(scores[sel], y[sel], thr)
    return out


# --- Shortcut control -----------------------------------------------------------------------


def protocol_pipeline(params: dict[str, Any], seed: int = 0):  # type: ignore[no-untyped-def]
    """Scaler + SVC with the model's hyper-parameters and balanced class weights.

    The control ranks videos by the SVM's decision value (AUC needs no probabilities), so it
    does not depend on how the shipped pipeline calibrates its scores.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svc = SVC(class_weight="balanced", random_state=seed, **params)
    return Pipeline([("scale", StandardScaler()), ("svm", svc)])


def grouped_oof_auc(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, params: dict[str, Any], seed: int = 0
) -> tuple[float, int]:
    """Out-of-fold AUC of scaler + SVM (``params``) under StratifiedGroupKFold by group."""
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

    n_groups = len(np.unique(groups))
    folds = int(min(5, n_groups))
    if folds < 2 or len(set(y.tolist())) < 2 or min(np.bincount(y)) < folds:
        return float("nan"), 0
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = cross_val_predict(
        protocol_pipeline(params, seed), x, y, groups=groups, cv=cv, method="decision_function"
    )
    return auc(oof, y), folds


def _svm_params(bundle: ModelBundle) -> dict[str, Any]:
    p = dict(bundle.meta.get("params") or {})
    out: dict[str, Any] = {"kernel": p.get("kernel", "rbf"), "C": float(p.get("C", 1.0))}
    if "gamma" in p:
        out["gamma"] = p["gamma"]
    return out


def _subsample_groups(rows: list[Featurized], limit: int, seed: int) -> list[Featurized]:
    if len(rows) <= limit:
        return rows
    groups = sorted({r.item.group or r.item.target for r in rows})
    rng = np.random.default_rng(seed)
    rng.shuffle(groups)
    keep: set[str] = set()
    n = 0
    by_group = Counter(r.item.group or r.item.target for r in rows)
    for g in groups:
        if n >= limit:
            break
        keep.add(g)
        n += by_group[g]
    return [r for r in rows if (r.item.group or r.item.target) in keep]


def shortcut_control(
    face_rows: list[Featurized],
    bg_rows: list[Featurized],
    bundle: ModelBundle,
    model_auc: float,
    *,
    limit: int = 3000,
    seed: int = 0,
) -> dict[str, Any]:
    """Grouped-CV AUC of the same protocol on background patches vs on the faces."""
    params = _svm_params(bundle)
    bg_ok = [r for r in bg_rows if r.matrix is not None]
    bg_ok = _subsample_groups(bg_ok, limit, seed)
    out: dict[str, Any] = {
        "region": "background corner patch of the face crop's size, no face in it",
        "protocol": f"StandardScaler + SVC {params} (balanced), StratifiedGroupKFold by "
        "group, out-of-fold AUC of the decision values",
        "families": list(bundle.families),
        "model_auc": model_auc,
        "n_videos": len(bg_ok),
        "n_failed": len(bg_rows) - len([r for r in bg_rows if r.matrix is not None]),
        "threshold_confounded": CONFOUND_AUC,
    }
    if not bg_ok:
        out.update(auc=float("nan"), verdict="not run: no background region could be measured")
        return out
    x, y, kept = video_matrix(bg_ok, bundle.families, bundle.temporal)
    groups = np.array([r.item.group or r.item.target for r in kept])
    bg_auc, folds = grouped_oof_auc(x, y, groups, params, seed)
    # The same protocol on the faces of the same videos, for an apples-to-apples comparison.
    keys = {r.item.target for r in kept}
    face_ok = [r for r in face_rows if r.matrix is not None and r.item.target in keys]
    face_auc = float("nan")
    if face_ok:
        xf, yf, kf = video_matrix(face_ok, bundle.families, bundle.temporal)
        gf = np.array([r.item.group or r.item.target for r in kf])
        face_auc, _ = grouped_oof_auc(xf, yf, gf, params, seed)
    out.update(
        auc=bg_auc,
        face_cv_auc=face_auc,
        folds=folds,
        n_groups=int(len(np.unique(groups))),
        n_real=int(np.sum(y == 0)),
        n_fake=int(np.sum(y == 1)),
    )
    out["confounded"] = bool(math.isfinite(bg_auc) and bg_auc >= CONFOUND_AUC)
    out["verdict"] = control_verdict(bg_auc, face_auc, model_auc)
    if len(y) < 40 or out["n_groups"] < 5:
        out["verdict"] += (
            f" Caution: only {len(y)} videos in {out['n_groups']} groups, so this control AUC "
            "is noisy; a confound can hide in it."
        )
    return out


def control_verdict(bg_auc: float, face_cv_auc: float, model_auc: float) -> str:
    if not math.isfinite(bg_auc):
        return (
            "Shortcut control not run: it needs real and fake videos in at least two groups "
            "(identities) with a measurable background."
        )
    if bg_auc >= CONFOUND_AUC:
        return (
            f"CONFOUNDED DATASET. A classifier that sees only a patch of background with no "
            f"face in it separates real from fake videos at AUC {bg_auc:.2f} (the face model "
            f"scores AUC {model_auc:.2f}). The classes differ outside the face (encoding chain, "
            f"camera, backdrop), so a high face-level score on this dataset proves little: it "
            f"may come from the same non-face difference. Judge the model on other data."
        )
    if bg_auc >= 0.6:
        return (
            f"Weak background signal: the background alone reaches AUC {bg_auc:.2f} (below the "
            f"{CONFOUND_AUC:.2f} alarm level). Face-level results are probably meaningful, "
            f"but part of the margin may come from non-face differences."
        )
    return (
        f"No shortcut found: the background alone is near chance (AUC {bg_auc:.2f}), so the "
        f"face-level results are not explained by a non-face difference between the classes."
    )


# --- Plots ----------------------------------------------------------------------------------

DET_TICKS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99)


def _curves(scores: np.ndarray, y: np.ndarray, methods: Sequence[str] | None):
    yield "all", scores, y
    if methods is None:
        return
    m = np.asarray(methods)
    fake_methods = sorted(set(m[y == 1].tolist()))
    if len(fake_methods) > 1:
        for name in fake_methods:
            sel = (y == 0) | ((y == 1) & (m == name))
            yield name, scores[sel], y[sel]


@contextmanager
def _figure(path: Path, title: str, legend_loc: str) -> Iterator[Any]:
    """An Agg figure saved to ``path`` when the block ends (headless: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    try:
        yield ax
        ax.set_title(title)
        ax.legend(loc=legend_loc, fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _draw_curves(ax, scores, y, methods, thr: float, xy: Callable) -> None:  # type: ignore[no-untyped-def]
    """One curve per method (bold for all), and the operating point, in ``xy(frr, far)``."""
    for name, s, yy in _curves(scores, y, methods):
        if len(set(yy.tolist())) < 2:
            continue
        _, far, frr = roc(s, yy)
        lw = 2.0 if name == "all" else 1.0
        ax.plot(*xy(frr, far), lw=lw, label=f"{name} (AUC {auc(s, yy):.3f})")
        if name == "all":
            at = block(s, yy, thr)
            x, yv = xy(np.array([at["frr"]]), np.array([at["far"]]))
            ax.plot(x, yv, "ko", label=f"threshold {thr:.3f}")


def plot_roc(scores, y, methods, thr: float, path: Path, title: str = "") -> None:  # type: ignore[no-untyped-def]
    with _figure(path, title or "ROC", "lower right") as ax:
        _draw_curves(ax, scores, y, methods, thr, lambda frr, far: (frr, 1 - far))
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_xlabel("FRR: real videos flagged (BPCER)")
        ax.set_ylabel("1 - FAR: fakes caught (1 - APCER)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)


def plot_det(scores, y, methods, thr: float, path: Path, title: str = "") -> None:  # type: ignore[no-untyped-def]
    """DET: FAR against FRR, both on normal-deviate (probit) axes, ticks in percent."""
    from scipy.stats import norm

    lo, hi = DET_TICKS[0], DET_TICKS[-1]

    def dev(p):  # type: ignore[no-untyped-def]
        return norm.ppf(np.clip(p, lo / 2, 1 - lo / 2))

    with _figure(path, title or "DET", "upper right") as ax:
        _draw_curves(ax, scores, y, methods, thr, lambda frr, far: (dev(frr), dev(far)))
        ticks = norm.ppf(DET_TICKS)
        labels = [f"{100 * t:g}" for t in DET_TICKS]
        ax.plot(ticks, ticks, ":", color="grey", label="EER line")
        ax.set_xticks(ticks, labels)
        ax.set_yticks(ticks, labels)
        ax.set_xlim(norm.ppf(lo / 2), norm.ppf(hi))
        ax.set_ylim(norm.ppf(lo / 2), norm.ppf(hi))
        ax.set_xlabel("FRR: real videos flagged (%)")
        ax.set_ylabel("FAR: fakes accepted as real (%)")


# --- Report ---------------------------------------------------------------------------------


def _f(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{100 * v:.2f}%" if pct else f"{v:.4f}" if isinstance(v, float) else str(v)


_COLS = (
    ("n_real", "reals", False),
    ("n_fake", "fakes", False),
    ("auc", "AUC", False),
    ("eer", "EER", True),
    ("far", "FAR", True),
    ("frr", "FRR", True),
    ("hter", "HTER", True),
    ("far_at_frr_1pct", "FAR@FRR1%", True),
    ("far_at_frr_5pct", "FAR@FRR5%", True),
)


def _table(rows: dict[str, dict[str, Any]], first: str) -> list[str]:
    head = f"| {first} | " + " | ".join(c[1] for c in _COLS) + " |"
    lines = [head, "|" + "---|" * (len(_COLS) + 1)]
    for name, b in rows.items():
        lines.append(f"| {name} | " + " | ".join(_f(b.get(k), pct) for k, _, pct in _COLS) + " |")
    return lines


def write_report(metrics: dict[str, Any], path: Path) -> None:
    v, meta = metrics["video"], metrics["meta"]
    lines = [
        "# dfscan evaluation",
        "",
        f"- Model: `{meta['model_version']}` (families: {', '.join(meta['families'])}"
        + (" + temporal" if meta["temporal"] else "")
        + f"; detector {meta['detector']}; {meta['frames']} frames per video"
        + (f", {meta['sampling']} sampling" if meta.get("sampling", "spread") != "spread" else "")
        + (
            f", faces tracked by {meta['tracking']}"
            if meta.get("tracking", "detect") != "detect"
            else ""
        )
        + ")",
        f"- Manifests: {', '.join(meta['manifests']) or '-'}"
        + (f"; split `{meta['split']}`" if meta.get("split") else ""),
        f"- Videos: {meta['n_items']} listed, {meta['n_scored']} scored, "
        f"{meta['n_errors']} could not be scored",
        f"- Operating threshold: P(fake) >= {v['threshold']:.4f} (the bundle's: "
        f"{meta.get('threshold_rule', '?')}, set on {meta.get('threshold_set_on', '?')})",
        "",
        "FAR = fakes accepted as real (APCER); FRR = real videos flagged as fake (BPCER); "
        "HTER = their mean at the threshold; EER where they cross. "
        "Frame level scores each sampled frame as a one-frame video: such vectors have no "
        "spread and no temporal part, unlike the model's training vectors, so judge frames by "
        "AUC and EER, not by the rates at the video threshold.",
        "",
        "## Metrics",
        "",
        *_table({"video": v, "frame": metrics["frame"]}, "level"),
        "",
        f"At the shipped threshold: FAR {_f(v.get('far'), True)}, FRR {_f(v.get('frr'), True)}. "
        f"Moving the threshold to hold FRR at 1% gives FAR {_f(v.get('far_at_frr_1pct'), True)}"
        f" (threshold {_f(v.get('threshold_at_frr_1pct'))}); at FRR 5%, FAR "
        f"{_f(v.get('far_at_frr_5pct'), True)} (threshold {_f(v.get('threshold_at_frr_5pct'))}).",
        "",
        "![ROC](roc.png) ![DET](det.png)",
        "",
        "## Shortcut control (background with no face)",
        "",
    ]
    c = metrics.get("control") or {}
    if c.get("skipped"):
        lines.append(f"Not run ({c['skipped']}).")
    elif c:
        lines += [
            f"**{c['verdict']}**",
            "",
            "| region | AUC |",
            "|---|---|",
            f"| background patch, same protocol (grouped CV) | {_f(c.get('auc'))} |",
            f"| face, same protocol (grouped CV) | {_f(c.get('face_cv_auc'))} |",
            f"| face, the evaluated model | {_f(c.get('model_auc'))} |",
            "",
            f"Protocol: {c['protocol']}; {c.get('n_videos', 0)} videos in "
            f"{c.get('n_groups', '?')} groups, {c.get('folds', '?')} folds; background could "
            f"not be measured for {c.get('n_failed', 0)}. Alarm level: AUC >= "
            f"{c['threshold_confounded']}.",
        ]
    pm = metrics.get("per_method") or {}
    if pm:
        lines += [
            "",
            "## Per method",
            "",
            "Each manipulation's fakes against all real videos; real sources show their FRR.",
            "",
            *_table(pm, "method"),
        ]
    counts = metrics.get("counts") or {}
    if counts:
        lines += ["", "## Counts", "", "| label | method | videos |", "|---|---|---|"]
        lines += [
            f"| {k.split(':', 1)[0]} | {k.split(':', 1)[1]} | {n} |" for k, n in counts.items()
        ]
    errs = metrics.get("errors") or {}
    lines += ["", "## Errors", ""]
    if errs:
        lines += ["| code | videos | examples |", "|---|---|---|"]
        for code, n in errs.items():
            ex = ", ".join(f"`{e}`" for e in metrics["error_examples"].get(code, [])[:3])
            lines.append(f"| {code} | {n} | {ex} |")
    else:
        lines.append("None: every video was scored.")
    fam = metrics.get("families_explain") or {}
    if fam:
        lines += [
            "",
            "## What drove the scores",
            "",
            "Mean drop in P(fake) when a family is set to its training mean (per-family "
            "ablation, `ModelBundle.explain`); positive = pushed towards fake.",
            "",
            "| family | fakes | reals |",
            "|---|---|---|",
        ]
        order = sorted(fam.get("fake", {}), key=lambda k: -fam["fake"][k])
        real = fam.get("real", {})
        for name in order:
            lines.append(f"| {name} | {fam['fake'][name]:+.4f} | {real.get(name, 0):+.4f} |")
    path.write_text("\n".join(lines) + "\n")


# --- Driver ---------------------------------------------------------------------------------


def evaluate(
    items: Sequence[Item],
    settings: Settings,
    opt: EvalOptions,
    *,
    manifests: Sequence[str] = (),
    bundle: ModelBundle | None = None,
) -> dict[str, Any]:
    """Featurize (cached), score, write scores.csv, metrics.json, roc.png, det.png, report.md."""
    bundle = bundle or load_bundle(opt.model)
    if opt.split:
        items = [it for it in items if it.split == opt.split]
    if not items:
        raise ValueError(f"no manifest rows{f' in split {opt.split!r}' if opt.split else ''}")
    frames = int(opt.frames or bundle.meta.get("frames_per_video", settings.frames_per_video))
    cfg = bundle.extract_config(settings, frames)
    kw = dict(
        detector=cfg.detector,
        crop_size=cfg.crop_size,
        frames=cfg.frames,
        sampling=cfg.sampling,
        tracking=cfg.tracking,
        cache=opt.cache,
    )
    opt.out.mkdir(parents=True, exist_ok=True)
    acc = _Acc()
    face_rows: list[Featurized] = []  # kept only when the control needs them (small matrices)
    with (opt.out / "scores.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(SCORE_FIELDS)
        for start in range(0, len(items), opt.chunk):
            rows = featurize(
                items[start : start + opt.chunk],
                settings,
                workers=opt.workers,
                progress=opt.progress,
                **kw,  # type: ignore[arg-type]
            )
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
        bg_rows: list[Featurized] = []
        for start in range(0, len(items), opt.chunk):
            bg_rows.extend(
                featurize(
                    items[start : start + opt.chunk],
                    settings,
                    region="background",
                    workers=opt.workers,
                    progress=opt.progress,
                    **kw,  # type: ignore[arg-type]
                )
            )
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
    metrics = _clean(metrics)
    (opt.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    title = f"{bundle.version}" + (f" / {opt.split}" if opt.split else "")
    plot_roc(s, y, acc.methods, thr, opt.out / "roc.png", f"ROC: {title}")
    plot_det(s, y, acc.methods, thr, opt.out / "det.png", f"DET: {title}")
    write_report(metrics, opt.out / "report.md")
    return metrics
