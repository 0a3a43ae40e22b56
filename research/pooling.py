"""Pooling candidates of the generalization harness: frame scores pooled into a video score.

Today's model scores one vector per video (each frame family's mean and spread over the frames,
plus the temporal family and the clip families). The selection rule's third axis
(docs/generalize.md) asks whether scoring each frame and pooling the scores does better, as
many frame-level detectors do: by the **mean** of the frame scores, or by the mean of the
**top quarter** (a swap that fails on a few frames still shows there).

A frame row is that frame's frame-family vector with the video's clip-family vector beside it
(clip families measure a whole track; every frame of the video carries the same one). The SVM
is the one every fold of the video-level candidates chose (rbf, C=3, gamma=0.003; the table's
``params``), not searched again: a grid over ~12,000 frame rows per fold would cost an hour on
this machine. Training reads ``FRAMES_PER_ROW`` evenly spaced frames of each training row;
test videos are scored on all their frames. The threshold follows the shipped rule on
out-of-fold pooled scores (3 folds grouped by identity): FRR <= 1% per source of reals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline

from models.classifier import make_search_pipeline
from models.featurize import Featurized, clip_columns, family_columns
from models.manifest import Item
from models.selection import choose_threshold
from research import lodo

POOLINGS = ("mean", "top")
FRAMES_PER_ROW = 4
_SVM = {"C": 3.0, "gamma": 0.003}


def pool(scores: np.ndarray, how: str) -> float:
    """A video's score from its frames' scores: their mean, or the mean of the top quarter."""
    if how == "mean":
        return float(np.mean(scores))
    if how == "top":
        k = max(1, int(np.ceil(len(scores) / 4)))
        return float(np.mean(np.sort(scores)[-k:]))
    raise ValueError(f"pooling must be one of {POOLINGS}, got {how!r}")


def frames_of(row: Featurized, families: Sequence[str], limit: int | None = None) -> np.ndarray:
    """The row's frame vectors (``limit`` evenly spaced ones if given), clip vector beside."""
    assert row.matrix is not None
    m = row.matrix[:, family_columns(families)]
    if limit is not None and len(m) > limit:
        m = m[np.unique(np.linspace(0, len(m) - 1, limit).round().astype(int))]
    ccols = clip_columns(families)
    if not len(ccols):
        return m
    if row.clip is None:
        raise ValueError(f"{row.item.target}: no clip-family vector in this row")
    return np.hstack([m, np.tile(row.clip[ccols], (len(m), 1))])


def _stack(rows: Sequence[Featurized], families: Sequence[str], limit: int | None):  # type: ignore[no-untyped-def]
    blocks = [frames_of(r, families, limit) for r in rows]
    owner = np.repeat(np.arange(len(rows)), [len(b) for b in blocks])
    return np.vstack(blocks), owner


def _pooled(decision: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    return np.array([pool(decision[owner == i], how) for i in range(n)])


def _model(seed: int) -> Pipeline:
    return make_search_pipeline(seed).set_params(svm__C=_SVM["C"], svm__gamma=_SVM["gamma"])


def fit_pooled(
    rows: Sequence[Featurized], families: Sequence[str], seed: int = 1
) -> tuple[Pipeline, dict[str, float]]:
    """A frame-level SVM on the training rows, and its threshold for each pooling."""
    kept = [r for r in rows if r.matrix is not None]
    y_video = np.array([r.item.y for r in kept])
    groups = np.array([r.item.group or r.item.target for r in kept])
    domains = np.array([r.item.method or r.item.split or "unknown" for r in kept])
    x, owner = _stack(kept, families, FRAMES_PER_ROW)
    y = y_video[owner]
    oof = np.zeros(len(x))
    cv = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=seed)
    for tr, te in cv.split(x, y, groups[owner]):
        oof[te] = _model(seed).fit(x[tr], y[tr]).decision_function(x[te])
    thresholds = {
        how: choose_threshold(_pooled(oof, owner, len(kept), how), y_video, "frr:0.01", domains)
        for how in POOLINGS
    }
    return _model(seed).fit(x, y), thresholds


def run_folds(
    items: Sequence[Item],
    train_rows: list[Featurized],
    test_rows: list[Featurized],
    families: Sequence[str],
    *,
    keep: Callable[[Featurized], bool] = lambda r: True,
    log: lodo.Log = print,
) -> dict[str, lodo.Scored]:
    """Every LODO and talking-head fold (as :func:`research.lodo.run_folds`), for each pooling."""
    out = {how: lodo.Scored() for how in POOLINGS}
    by_target = {r.item.target: r for r in test_rows}
    for name, held, source in lodo.folds(items):
        drop = lodo.excluded(items, held, source)
        rows = [r for r in train_rows if r.item.target not in drop and keep(r)]
        test = [by_target[it.target] for it in held if it.target in by_target]
        test = [r for r in test if r.matrix is not None]
        model, thresholds = fit_pooled(rows, families)
        x, owner = _stack(test, families, None)
        decision = model.decision_function(x)
        for how in POOLINGS:
            for r, s in zip(test, _pooled(decision, owner, len(test), how), strict=True):
                out[how].scores[r.item.target] = s
                out[how].threshold[r.item.target] = thresholds[how]
            out[how].params[name] = dict(_SVM)
        log(f"  fold {name}: trained on {len(rows)} rows ({len(x)} test frames)")
    return out
