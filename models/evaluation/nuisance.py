"""Nuisance control: do real and fake videos differ in face size, frame size, bitrate, length?

A detector can be rewarded for reading such a difference instead of the forgery. On the
shared FF++ c40 set, the DeepFakeDetection actor originals are 1080p wide shots: their faces
have as many pixels as the other clips' but fill less of the frame, and face size relative
to the frame alone separates that set's reals from its fakes about as well as the shipped
model does (docs/nuisance.md). So before anyone believes an AUC, three figures:

1. each nuisance variable's AUC alone, direction-free (max(AUC, 1 - AUC): a variable that
   is *smaller* in fakes separates them just as well);
2. the out-of-fold AUC of a small classifier on all of them (grouped CV, so identities
   never straddle folds): a combination can separate where no single variable does;
3. the model's AUC over real-fake pairs *matched* on face size and frame resolution, beside
   its AUC over all pairs. What stands after matching is the part of the margin those two
   nuisances cannot explain (it can still carry others: the per-variable AUCs say which).

:func:`nuisance_control` is the public entry: ``dfscan evaluate`` calls it on every run and
research harnesses call it per dataset. The words of its verdict: ``nuisance_text``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.nuisance import FAMILY, VARIABLES, Nuisance
from models.evaluation.nuisance_text import nuisance_verdict
from models.metrics import auc

NAN = float("nan")
ALARM_AUC = 0.70  # a nuisance (or all of them together) at or above this raises the alarm
# Matched pairs: a real and a fake whose faces differ by at most 20% in size and whose
# frames' shorter sides differ by at most 10% (480p with 480p, 720p with 720p).
FACE_CALIPER = 1.2
RESOLUTION_CALIPER = 1.1
MATCH_LIMIT = 4000  # videos; above it the matched AUC runs on random whole groups
BOOTSTRAP = 200  # group bootstrap draws for the matched AUC's 95% interval


def nuisance_table(records: Sequence[Nuisance | None]) -> dict[str, np.ndarray]:
    """One float column per variable (NaN where a video has no record or no such value)."""
    return {
        v.name: np.array([v.get(r) if r is not None else NAN for r in records], float)
        for v in VARIABLES
    }


def separation(values: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """One variable alone: direction-free AUC, which class has it larger, class medians."""
    v, yy = np.asarray(values, float), np.asarray(y, int)
    ok = np.isfinite(v)
    v, yy = v[ok], yy[ok]
    real, fake = v[yy == 0], v[yy == 1]
    out: dict[str, Any] = {"n_real": int(real.size), "n_fake": int(fake.size)}
    out["median_real"] = float(np.median(real)) if real.size else NAN
    out["median_fake"] = float(np.median(fake)) if fake.size else NAN
    if real.size < 2 or fake.size < 2:
        return {**out, "auc": NAN, "higher_in": None}
    a = auc(v, yy)
    higher = "fake" if a > 0.5 else "real" if a < 0.5 else None
    return {**out, "auc": max(a, 1.0 - a), "higher_in": higher}


def _folds(y: np.ndarray, groups: np.ndarray) -> int:
    """Folds for grouped CV: up to 5, no more than groups or the rarer class allow."""
    if len(set(y.tolist())) < 2:
        return 0
    folds = int(min(5, len(np.unique(groups)), np.bincount(y).min()))
    return folds if folds >= 2 else 0


def classifier_auc(
    table: Mapping[str, np.ndarray], y: np.ndarray, groups: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Out-of-fold AUC of a small random forest on all nuisance variables (grouped CV).

    Depth-3 trees find thresholds and combinations (a face position *and* a frame size) that
    a linear model would miss; missing values take the training fold's median.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline

    cols = [k for k, c in table.items() if np.isfinite(c).any() and np.nanstd(c) > 0]
    protocol = (
        "median imputation + random forest (200 trees, depth 3, balanced), "
        "StratifiedGroupKFold by group, out-of-fold AUC"
    )
    folds = _folds(y, groups)
    out: dict[str, Any] = {"protocol": protocol, "variables": cols, "folds": folds}
    if not cols or not folds:
        return {**out, "auc": NAN}
    x = np.column_stack([table[k] for k in cols])
    forest = RandomForestClassifier(
        n_estimators=200, max_depth=3, min_samples_leaf=2, class_weight="balanced",
        random_state=seed, n_jobs=1,
    )  # fmt: skip
    pipe = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), forest)
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = np.full(y.size, NAN)
    for train, test in cv.split(x, y, groups):
        # With few groups a training fold can hold one class only: its test rows stay unscored.
        if np.unique(y[train]).size == 2:
            oof[test] = pipe.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    ok = np.isfinite(oof)
    return {**out, "auc": auc(oof[ok], y[ok]), "n_scored": int(ok.sum())}


def _group_subsample(groups: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """A mask keeping whole random groups until ``limit`` videos are kept."""
    if groups.size <= limit:
        return np.ones(groups.size, bool)
    names, counts = np.unique(groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(names.size)
    keep = names[order[np.cumsum(counts[order]) <= limit]]
    return np.isin(groups, keep)


def matched_auc(
    scores: np.ndarray,
    y: np.ndarray,
    face_px: np.ndarray,
    short_side: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int = BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """The model's AUC over real-fake pairs matched on face size and frame resolution.

    A pair counts when the faces are within FACE_CALIPER of each other's size and the
    frames' shorter sides within RESOLUTION_CALIPER; the AUC is the share of such pairs in
    which the fake scores higher (ties half). ``model_auc`` is the same over all pairs of the
    videos that have a face size, and ``margin_kept`` = (matched - 0.5) / (all - 0.5). The 95%
    interval resamples whole groups (identities), as pairs sharing a video are not
    independent.
    """
    s, yy = np.asarray(scores, float), np.asarray(y, int)
    ok = np.isfinite(s) & np.isfinite(face_px) & (face_px > 0) & (short_side > 0)
    ok &= _group_subsample(groups, MATCH_LIMIT, seed)
    r, f = ok & (yy == 0), ok & (yy == 1)
    out: dict[str, Any] = {
        "on": f"face size within {FACE_CALIPER - 1:.0%} and frame resolution (shorter side) "
        f"within {RESOLUTION_CALIPER - 1:.0%}",
        "n_real": int(r.sum()),
        "n_fake": int(f.sum()),
        "model_auc": auc(s[ok], yy[ok]),
    }
    lf, ls = np.log(np.where(ok, face_px, 1.0)), np.log(np.where(ok, short_side, 1.0))
    near = np.abs(lf[r][:, None] - lf[f][None, :]) <= math.log(FACE_CALIPER) + 1e-9
    near &= np.abs(ls[r][:, None] - ls[f][None, :]) <= math.log(RESOLUTION_CALIPER) + 1e-9
    wins = (s[f][None, :] > s[r][:, None]) + 0.5 * (s[f][None, :] == s[r][:, None])
    n_pairs = int(near.sum())
    out.update(
        n_pairs=n_pairs,
        share_of_pairs=n_pairs / max(int(r.sum()) * int(f.sum()), 1),
        n_real_matched=int(near.any(axis=1).sum()),
        n_fake_matched=int(near.any(axis=0).sum()),
    )
    if not n_pairs:
        return {**out, "auc": NAN, "ci95": [NAN, NAN], "margin_kept": NAN}
    hits = near * wins
    m_auc = float(hits.sum() / n_pairs)
    margin = out["model_auc"] - 0.5
    kept = (m_auc - 0.5) / margin if margin > 0.02 else NAN  # no margin to keep: say nothing
    lo, hi = _bootstrap(hits, near, groups[r], groups[f], n_boot, seed)
    return {**out, "auc": m_auc, "ci95": [lo, hi], "margin_kept": kept}


def _bootstrap(hits, near, g_real, g_fake, n_boot: int, seed: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """95% interval of sum(hits) / sum(near) with whole groups drawn with replacement."""
    names = np.unique(np.concatenate([g_real, g_fake]))
    if names.size < 3 or n_boot <= 0:
        return NAN, NAN
    ir, jf = np.searchsorted(names, g_real), np.searchsorted(names, g_fake)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, names.size, names.size), minlength=names.size)
        wr, wf = w[ir].astype(float), w[jf].astype(float)
        den = wr @ near @ wf
        if den > 0:
            draws.append(float(wr @ hits @ wf / den))
    if len(draws) < n_boot // 2:
        return NAN, NAN
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def nuisance_control(
    table: Mapping[str, np.ndarray],
    labels: Sequence[int] | np.ndarray,
    groups: Sequence[str] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    *,
    methods: Sequence[str] | None = None,
    alarm: float = ALARM_AUC,
    seed: int = 0,
) -> dict[str, Any]:
    """The nuisance control of one dataset, as a JSON-ready dict with its verdict in words.

    ``table``: variable name -> one value per video (:func:`nuisance_table` of the videos'
    :class:`~common.nuisance.Nuisance` records; ``face_px`` and ``height``/``width`` are
    needed for the matching). ``labels``: 1 fake, 0 real. ``groups``: identity keys (a video
    without one is its own group). ``scores``: the model's, higher = more fake. ``methods``:
    each video's manipulation or source; each fake method then gets its own block (its
    fakes against all reals).
    """
    y = np.asarray(labels, int)
    g = np.asarray([str(x) or f"#{i}" for i, x in enumerate(groups)])
    s = np.asarray(scores, float)
    cols = {k: np.asarray(v, float) for k, v in table.items()}
    out = _block(cols, y, g, s, seed)
    out["classifier"] = classifier_auc(cols, y, g, seed)
    out.update(
        alarm_level=alarm,
        n_videos=int(y.size),
        n_real=int((y == 0).sum()),
        n_fake=int((y == 1).sum()),
        n_groups=int(np.unique(g).size),
    )
    strong = [k for k, v in out["variables"].items() if (v["auc"] or 0) >= alarm]
    out["separating"] = sorted(strong, key=lambda k: -out["variables"][k]["auc"])
    out["alarm"] = bool(strong) or (out["classifier"]["auc"] or 0) >= alarm
    if methods is not None:
        out["per_method"] = _per_method(cols, y, g, s, np.asarray(methods), seed)
    out["verdict"] = nuisance_verdict(out)
    return out


def _block(cols, y, g, s, seed: int, n_boot: int = BOOTSTRAP) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Per-variable separations and the matched AUC of one set of videos."""
    short = np.fmin(cols.get("width", np.full(y.size, NAN)), cols.get("height", NAN))
    face = cols.get("face_px", np.full(y.size, NAN))
    return {
        "variables": {k: {"family": FAMILY.get(k, k), **separation(v, y)} for k, v in cols.items()},
        "matched": matched_auc(s, y, face, short, g, n_boot=n_boot, seed=seed),
    }


def _per_method(cols, y, g, s, methods: np.ndarray, seed: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Each fake method's fakes against all reals and, where reals come from several sources,
    each source's reals against all fakes (no classifier: too few videos per fold).

    A source of reals unlike the rest (wide shots, another camera) shows up here by name.
    """
    out: dict[str, Any] = {}
    for label in (1, 0):
        names = sorted(set(methods[y == label].tolist()))
        if len(names) < 2:
            continue
        for name in names:
            sel = (y != label) | (methods == name)
            sub = {k: v[sel] for k, v in cols.items()}
            key = name if name not in out else f"{name} ({('real', 'fake')[label]})"
            out[key] = {
                "side": ("real", "fake")[label],
                "n_fake": int((y[sel] == 1).sum()),
                "n_real": int((y[sel] == 0).sum()),
                **_block(sub, y[sel], g[sel], s[sel], seed),
            }
    return out
