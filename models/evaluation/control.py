"""Shortcut control: the model's protocol on a patch of background with no face in it.

The same feature families and the same classifier protocol (scaler + SVM with the bundle's
hyper-parameters, grouped cross-validation) are run on a same-size patch of *background*. If
the background alone separates real from fake, the dataset is confounded (codec, camera,
backdrop) and a face-level score on it proves little; the report says so in plain words.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from models.bundle import ModelBundle
from models.classifier import make_search_pipeline
from models.featurize import Featurized, matrix_for
from models.metrics import auc

CONFOUND_AUC = 0.75  # control AUC at or above this: background alone separates the classes


def protocol_pipeline(params: dict[str, Any], seed: int = 0) -> Pipeline:
    """The search pipeline of training (scaler + balanced SVC) with the model's
    hyper-parameters.

    The control ranks videos by the SVM's decision value (AUC needs no probabilities), so it
    does not depend on how the shipped pipeline calibrates its scores.
    """
    return make_search_pipeline(seed).set_params(**{f"svm__{k}": v for k, v in params.items()})


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
    x, y, kept = matrix_for(bg_ok, bundle)
    groups = np.array([r.item.group or r.item.target for r in kept])
    bg_auc, folds = grouped_oof_auc(x, y, groups, params, seed)
    # The same protocol on the faces of the same videos, for an apples-to-apples comparison.
    keys = {r.item.target for r in kept}
    face_ok = [r for r in face_rows if r.matrix is not None and r.item.target in keys]
    face_auc = float("nan")
    if face_ok:
        xf, yf, kf = matrix_for(face_ok, bundle)
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
