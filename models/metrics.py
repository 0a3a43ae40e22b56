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
    """(thresholds, far, frr) over every distinct score, plus the two extremes."""
    real, fake = _split(scores, y)
    th = np.unique(np.concatenate([real, fake, [np.inf, -np.inf]]))
    far = np.searchsorted(np.sort(fake), th, side="left") / max(fake.size, 1)
    frr = 1.0 - np.searchsorted(np.sort(real), th, side="left") / max(real.size, 1)
    return th, far, frr


def eer(scores: np.ndarray, y: np.ndarray) -> Rates:
    """Equal error rate: the threshold where FAR and FRR are closest, their mean there."""
    th, far, frr = roc(scores, y)
    k = int(np.argmin(np.abs(far - frr)))
    # Between two steps FAR and FRR may never be equal; report the mean at the crossing.
    val = (far[k] + frr[k]) / 2
    return Rates(float(th[k]) if np.isfinite(th[k]) else 0.5, float(val), float(val))


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (probability a fake outscores a real; ties count half)."""
    real, fake = _split(scores, y)
    if real.size == 0 or fake.size == 0:
        return float("nan")
    order = np.argsort(np.concatenate([real, fake]), kind="mergesort")
    allv = np.concatenate([real, fake])[order]
    ranks = np.empty(allv.size)
    # Average ranks for ties.
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    cum = np.cumsum(counts)
    avg = cum - (counts - 1) / 2.0
    ranks[order] = avg[inv]
    r_fake = ranks[real.size :].sum()
    return float((r_fake - fake.size * (fake.size + 1) / 2) / (real.size * fake.size))


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
