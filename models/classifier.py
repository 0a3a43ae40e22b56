"""The classifier: a scikit-learn Pipeline of a standard scaler and an RBF/linear SVM."""

from __future__ import annotations

from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def make_pipeline(
    *, kernel: str = "rbf", C: float = 1.0, gamma: str | float = "scale", seed: int = 0
) -> Pipeline:
    """Scaler + SVC with Platt-scaled probabilities and balanced class weights.

    Balanced weights because the training sets are not 50/50 once pseudo-fakes and controls
    are mixed in; probabilities so the threshold is a readable P(fake).
    """
    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "svm",
                SVC(
                    kernel=kernel,
                    C=C,
                    gamma=gamma,
                    class_weight="balanced",
                    probability=True,
                    random_state=seed,
                ),
            ),
        ]
    )
