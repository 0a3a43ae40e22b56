"""Model selection and training: group-aware CV over SVM hyper-parameters, then a threshold.

Cross-validation folds are grouped by identity (subject / person), so no face is on both sides
of a fold; the score is ROC AUC. The decision threshold is fixed afterwards on a dev split
(or on out-of-fold scores) at the EER or at a target FRR on real videos: at platform scale
almost every video is real, so the default operating point keeps false flags rare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, cross_val_predict

from models.classifier import make_pipeline
from models.metrics import auc, eer, threshold_at_frr

PARAM_GRID: list[dict[str, list[Any]]] = [
    {"svm__kernel": ["rbf"], "svm__C": [0.3, 1.0, 3.0, 10.0], "svm__gamma": ["scale", 0.003, 0.01]},
    {"svm__kernel": ["linear"], "svm__C": [0.01, 0.1, 1.0]},
]


@dataclass
class TrainResult:
    pipeline: Any
    params: dict[str, Any]
    cv_auc: float
    oof_scores: np.ndarray
    threshold: float
    threshold_rule: str
    cv_table: list[dict[str, Any]] = field(default_factory=list)


def _folds(groups: np.ndarray, max_splits: int = 5) -> int:
    return int(max(2, min(max_splits, len(np.unique(groups)))))


def select_and_fit(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    seed: int = 0,
    grid: list[dict[str, list[Any]]] | None = None,
    n_jobs: int = 1,
) -> tuple[Any, dict[str, Any], float, list[dict[str, Any]]]:
    """Grid search with StratifiedGroupKFold; returns the refitted best pipeline."""
    cv = StratifiedGroupKFold(n_splits=_folds(groups), shuffle=True, random_state=seed)
    search = GridSearchCV(
        make_pipeline(seed=seed),
        grid or PARAM_GRID,
        scoring="roc_auc",
        cv=cv,
        n_jobs=n_jobs,
        refit=True,
    )
    search.fit(x, y, groups=groups)
    table = [
        {"params": p, "auc": float(m), "std": float(s)}
        for p, m, s in zip(
            search.cv_results_["params"],
            search.cv_results_["mean_test_score"],
            search.cv_results_["std_test_score"],
            strict=True,
        )
    ]
    return search.best_estimator_, dict(search.best_params_), float(search.best_score_), table


def out_of_fold(
    pipeline: Any, x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int
) -> np.ndarray:
    cv = StratifiedGroupKFold(n_splits=_folds(groups), shuffle=True, random_state=seed)
    from sklearn.base import clone

    return cross_val_predict(clone(pipeline), x, y, groups=groups, cv=cv, method="predict_proba")[
        :, 1
    ]


def choose_threshold(scores: np.ndarray, y: np.ndarray, rule: str) -> float:
    """``eer`` or ``frr:<rate>`` (e.g. ``frr:0.01``) on the given dev scores."""
    if rule == "eer":
        return eer(scores, y).threshold
    if rule.startswith("frr:"):
        return threshold_at_frr(scores[y == 0], float(rule.split(":", 1)[1]))
    raise ValueError(f"threshold rule must be 'eer' or 'frr:<rate>', got {rule!r}")


def train(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    threshold_rule: str = "frr:0.01",
    seed: int = 0,
    grid: list[dict[str, list[Any]]] | None = None,
    n_jobs: int = 1,
) -> TrainResult:
    """Select, fit and fix the threshold (on ``dev`` if given, else on out-of-fold scores)."""
    pipe, params, cv_auc, table = select_and_fit(x, y, groups, seed=seed, grid=grid, n_jobs=n_jobs)
    oof = out_of_fold(pipe, x, y, groups, seed)
    if dev is not None:
        dev_scores = pipe.predict_proba(dev[0])[:, 1]
        thr = choose_threshold(dev_scores, dev[1], threshold_rule)
    else:
        thr = choose_threshold(oof, y, threshold_rule)
    return TrainResult(pipe, params, cv_auc, oof, float(thr), threshold_rule, table)


def oof_auc(result: TrainResult, y: np.ndarray) -> float:
    return auc(result.oof_scores, y)
