"""The classifier: a scikit-learn Pipeline of a standard scaler and an RBF/linear SVM.

Hyper-parameters are searched on the bare SVM (ranking by ROC AUC needs no probabilities);
the shipped pipeline wraps the chosen SVM in sigmoid (Platt) calibration so that its score
is a readable P(fake) and the threshold a probability.
"""

from __future__ import annotations

from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def _svc(kernel: str, C: float, gamma: str | float, seed: int) -> SVC:
    # Balanced weights: the training sets are not 50/50 once pseudo-fakes and degraded
    # copies are mixed in.
    return SVC(kernel=kernel, C=C, gamma=gamma, class_weight="balanced", random_state=seed)


def make_search_pipeline(seed: int = 0) -> Pipeline:
    """Scaler + bare SVC, for grid search (parameters named ``svm__C`` etc.)."""
    return Pipeline([("scale", StandardScaler()), ("svm", _svc("rbf", 1.0, "scale", seed))])


def make_pipeline(
    *,
    kernel: str = "rbf",
    C: float = 1.0,
    gamma: str | float = "scale",
    seed: int = 0,
    calibration_folds: int = 3,
) -> Pipeline:
    """Scaler + Platt-calibrated SVC: ``predict_proba(X)[:, 1]`` is P(fake).

    ``ensemble=False``: one SVC fitted on all the data, its sigmoid fitted on cross-validated
    decision values (what ``SVC(probability=True)`` did, which scikit-learn 1.11 removes).
    """
    calibrated = CalibratedClassifierCV(
        _svc(kernel, C, gamma, seed), method="sigmoid", cv=calibration_folds, ensemble=False
    )
    return Pipeline([("scale", StandardScaler()), ("svm", calibrated)])


def pipeline_from_params(params: dict[str, Any], seed: int = 0) -> Pipeline:
    """The calibrated pipeline for search results named like ``{"svm__C": 3.0, ...}``."""
    clean = {k.removeprefix("svm__"): v for k, v in params.items()}
    return make_pipeline(seed=seed, **clean)
