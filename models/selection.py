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
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, cross_val_predict

from models.classifier import make_search_pipeline, pipeline_from_params
from models.metrics import eer, threshold_at_frr

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
    sample_weight: np.ndarray | None = None,
) -> tuple[Any, dict[str, Any], float, list[dict[str, Any]]]:
    """Grid search with StratifiedGroupKFold; returns the best parameters refitted as a
    calibrated pipeline on all of ``x`` (``sample_weight`` weighs the rows in every fit)."""
    cv = StratifiedGroupKFold(n_splits=_folds(groups), shuffle=True, random_state=seed)
    search = GridSearchCV(
        make_search_pipeline(seed=seed),
        grid or PARAM_GRID,
        scoring="roc_auc",
        cv=cv,
        n_jobs=n_jobs,
        refit=False,
    )
    search.fit(x, y, groups=groups, **_weights(sample_weight))
    table = [
        {"params": p, "auc": float(m), "std": float(s)}
        for p, m, s in zip(
            search.cv_results_["params"],
            search.cv_results_["mean_test_score"],
            search.cv_results_["std_test_score"],
            strict=True,
        )
    ]
    best = dict(search.best_params_)
    pipeline = pipeline_from_params(best, seed=seed).fit(x, y, **_weights(sample_weight))
    return pipeline, best, float(search.best_score_), table


def _weights(sample_weight: np.ndarray | None) -> dict[str, np.ndarray]:
    """Fit parameters that route row weights to the pipeline's SVM (none: no parameter, so an
    unweighted fit is exactly what it always was)."""
    return {} if sample_weight is None else {"svm__sample_weight": sample_weight}


def out_of_fold(
    pipeline: Any,
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    seed: int,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    cv = StratifiedGroupKFold(n_splits=_folds(groups), shuffle=True, random_state=seed)
    kw = {"params": _weights(sample_weight)} if sample_weight is not None else {}
    proba = cross_val_predict(
        clone(pipeline), x, y, groups=groups, cv=cv, method="predict_proba", **kw
    )
    return proba[:, 1]


def choose_threshold(
    scores: np.ndarray, y: np.ndarray, rule: str, domains: np.ndarray | None = None
) -> float:
    """``eer`` or ``frr:<rate>`` (e.g. ``frr:0.01``) on held-out scores.

    With ``domains`` (one source name per row), the FRR rule holds for every source of real
    videos separately and the strictest threshold wins: a threshold fitted to one camera
    or dataset alone flags far more reals from the next one.
    """
    if rule == "eer":
        return eer(scores, y).threshold
    if not rule.startswith("frr:"):
        raise ValueError(f"threshold rule must be 'eer' or 'frr:<rate>', got {rule!r}")
    rate = float(rule.split(":", 1)[1])
    real = y == 0
    if domains is None:
        return threshold_at_frr(scores[real], rate)
    # Degraded copies are synthetic training aids, not a source of real uploads: their FRR
    # is measured by bench/robustness.py, not bought here with the detection rate.
    sources = [d for d in np.unique(domains[real]) if "degraded" not in str(d)]
    return max(threshold_at_frr(scores[real & (domains == d)], rate) for d in sources)


def train(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    threshold_rule: str = "frr:0.01",
    domains: np.ndarray | None = None,
    dev_domains: np.ndarray | None = None,
    seed: int = 0,
    grid: list[dict[str, list[Any]]] | None = None,
    n_jobs: int = 1,
    sample_weight: np.ndarray | None = None,
) -> TrainResult:
    """Select, fit, and fix the threshold on held-out scores.

    Held-out means the dev split (scored by the final model) together with the out-of-fold
    scores of the training videos (grouped CV): reals of every source then speak for the
    threshold, not only the dev split's few subjects. For ``eer`` the dev split alone is
    used when it has both classes.
    """
    pipe, params, cv_auc, table = select_and_fit(
        x, y, groups, seed=seed, grid=grid, n_jobs=n_jobs, sample_weight=sample_weight
    )
    oof = out_of_fold(pipe, x, y, groups, seed, sample_weight)
    scores, labels, doms = oof, y, domains
    if dev is not None:
        dev_scores = pipe.predict_proba(dev[0])[:, 1]
        if threshold_rule == "eer" and len(np.unique(dev[1])) == 2:
            scores, labels, doms = dev_scores, dev[1], None
        else:
            scores = np.concatenate([oof, dev_scores])
            labels = np.concatenate([y, dev[1]])
            if domains is not None:
                extra = dev_domains if dev_domains is not None else np.full(len(dev[1]), "dev")
                doms = np.concatenate([domains, extra])
    thr = choose_threshold(scores, labels, threshold_rule, doms)
    return TrainResult(pipe, params, cv_auc, oof, float(thr), threshold_rule, table)
