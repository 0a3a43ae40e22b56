"""Verification metrics in ISO/IEC 30107-3 terms, with dfscan's convention: score = P(fake).

FAR (APCER) = fraction of fakes accepted as real (score below threshold);
FRR (BPCER) = fraction of real videos rejected as fake (score at or above threshold);
HTER = (FAR + FRR) / 2; EER = the rate where FAR and FRR cross.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Rates:
    threshold: float
    far: float
    frr: float

    @property
    def hter(self) -> float:
        return (self.far + self.frr) / 2


def _split(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, y = np.asarray(scores, float), np.asarray(y, int)
    if scores.shape != y.shape:
        raise ValueError("scores and labels differ in length")
    return scores[y == 0], scores[y == 1]


def rates_at(scores: np.ndarray, y: np.ndarray, threshold: float) -> Rates:
    real, fake = _split(scores, y)
    far = float(np.mean(fake < threshold)) if fake.size else float("nan")
    frr = float(np.mean(real >= threshold)) if real.size else float("nan")
    return Rates(float(threshold), far, frr)


def roc(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, far, frr) at every distinct score, highest threshold first.

    scikit-learn's ``roc_curve`` with fakes as positives: its false-positive rate is the FRR
    (reals flagged) and one minus its true-positive rate the FAR. The first threshold is
    +inf (nothing flagged), the last the lowest score (everything flagged).
    """
    from sklearn.metrics import roc_curve

    _split(scores, y)  # checks the lengths
    fpr, tpr, th = roc_curve(np.asarray(y, int), np.asarray(scores, float), drop_intermediate=False)
    return th, 1.0 - tpr, fpr


def det(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, far, frr) of the DET curve (scikit-learn's ``det_curve``), for plots."""
    from sklearn.metrics import det_curve

    _split(scores, y)
    frr, far, th = det_curve(np.asarray(y, int), np.asarray(scores, float))
    return th, far, frr


def eer(scores: np.ndarray, y: np.ndarray) -> Rates:
    """Equal error rate: where FAR and FRR are closest on the ROC, their mean there.

    Between two steps FAR and FRR may never be equal; the mean at the crossing is reported,
    and of two equally close points the one at the higher threshold.
    """
    th, far, frr = roc(scores, y)
    k = int(np.argmin(np.abs(far - frr)))
    val = (far[k] + frr[k]) / 2
    return Rates(float(th[k]) if np.isfinite(th[k]) else 0.5, float(val), float(val))


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (probability a fake outscores a real; ties count half).

    NaN without both classes.
    """
    from sklearn.metrics import roc_auc_score

    real, fake = _split(scores, y)
    if real.size == 0 or fake.size == 0:
        return float("nan")
    return float(roc_auc_score(np.asarray(y, int), np.asarray(scores, float)))


def threshold_at_frr(real_scores: np.ndarray, target_frr: float) -> float:
    """Lowest threshold whose FRR on these real scores is at most ``target_frr``."""
    s = np.sort(np.asarray(real_scores, float))
    if s.size == 0:
        raise ValueError("need real scores to set a threshold at a target FRR")
    allowed = int(np.floor(target_frr * s.size))  # reals that may lie at or above threshold
    if allowed == 0:
        return float(np.nextafter(s[-1], np.inf))
    return float(np.nextafter(s[s.size - allowed - 1], np.inf))


def far_at_frr(scores: np.ndarray, y: np.ndarray, target_frr: float) -> Rates:
    real, _ = _split(scores, y)
    return rates_at(scores, y, threshold_at_frr(real, target_frr))


def summary(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    """The metrics block of a report: AUC, EER and the rates at the operating threshold."""
    at = rates_at(scores, y, threshold)
    e = eer(scores, y)
    out = {"auc": auc(scores, y), "eer": e.far, "eer_threshold": e.threshold}
    out.update({k: v for k, v in asdict(at).items()})
    out["hter"] = at.hter
    out["n_real"] = int(np.sum(np.asarray(y) == 0))
    out["n_fake"] = int(np.sum(np.asarray(y) == 1))
    return out
