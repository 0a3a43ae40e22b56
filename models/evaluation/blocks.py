"""The metric blocks of an evaluation: overall, per method, and JSON-safe output."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.metrics import far_at_frr, summary


def json_safe(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
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
    if s.size == 0:  # nothing could be scored: the report still says so, at the threshold
        return {"threshold": float(threshold), "n_real": 0, "n_fake": 0}
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
