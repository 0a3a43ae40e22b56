"""Image-quality family: the face measured against a blurred copy of itself.

Galbally, Marcel & Fierrez, "Image quality assessment for fake biometric detection", IEEE TIP
2014: full-reference measures between an image and its Gaussian-smoothed version; Korshunov &
Marcel, "DeepFakes: a new threat to face recognition?", arXiv:1812.08685 (2018) fed this set to
an SVM for DeepfakeTIMIT. Each measure is taken on the inner face and given also as a log ratio
to the same measure on the ring outside the face: a pasted face differs from its surround,
while a whole-frame quality change moves both together.
"""

from __future__ import annotations

import cv2
import numpy as np

from common.features.regions import (
    INNER,
    OUTER,
    Regions,
    check_inputs,
    gather,
    gray32,
    magnitude,
    regions,
    safe_log_ratio,
    segment_sums,
    span,
)

MEASURES = ("mse", "ad", "nae", "md", "sc", "nxc", "lmse", "gme")


def _measures(maps: np.ndarray, reg: Regions) -> np.ndarray:
    """(2, len(MEASURES)): the measures on the inner face and on the outer ring (0 if empty).

    ``maps`` (6, N) float32: img, blur, lap, lap_b, grad, grad_b at ``span(reg, INNER,
    OUTER)``. The per-pixel terms are the float32 ones as ever; every sum over a region comes
    from one float64 reduction over both regions.
    """
    a, b, la, lb, ga, gb = maps
    d = a - b
    ad = np.abs(d)
    terms = np.empty((9, a.size), np.float32)
    np.multiply(d, d, out=terms[0])
    terms[1] = ad
    terms[2] = a  # |a| = a: grey levels are >= 0
    np.multiply(a, a, out=terms[3])
    np.multiply(b, b, out=terms[4])
    np.multiply(a, b, out=terms[5])
    np.square(la - lb, out=terms[6])
    np.multiply(la, la, out=terms[7])
    np.square(ga - gb, out=terms[8])
    terms = terms.astype(np.float64)
    s = segment_sums(terms, reg, INNER, OUTER)
    counts = reg.counts[INNER : OUTER + 1]
    m = s / np.maximum(counts, 1)
    eps = 1e-6
    out = np.stack(
        [
            m[0],  # mean squared error
            m[1],  # average (absolute) difference
            s[1] / (s[2] + eps),  # normalized absolute error
            _region_max(ad, counts),  # maximum difference
            s[3] / (s[4] + eps),  # structural content
            s[5] / (s[3] + eps),  # normalized cross-correlation
            m[6] / (m[7] + eps),  # Laplacian MSE
            m[8],  # gradient magnitude error
        ],
        axis=1,
    )
    out[counts == 0] = 0.0
    return out


def _region_max(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts))
    full = counts > 0
    if full.any():
        out[full] = np.maximum.reduceat(x, (np.cumsum(counts) - counts)[full])
    return out


def _grad(img: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    return magnitude(gx, gy)


def iqm_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(2*len(MEASURES),) float32: inner-face measures (log-scaled) and inner/outer log ratios."""
    check_inputs(crop, mask)
    img = gray32(crop)
    blur = cv2.GaussianBlur(img, (0, 0), 1.0)
    lap, lap_b = cv2.Laplacian(img, cv2.CV_32F), cv2.Laplacian(blur, cv2.CV_32F)
    grad, grad_b = _grad(img), _grad(blur)
    reg = regions(mask)
    maps = gather((img, blur, lap, lap_b, grad, grad_b), span(reg, INNER, OUTER), dtype=np.float32)
    inner, outer = _measures(maps, reg)
    logged = [float(np.log(abs(v) + 1e-6)) for v in inner]
    ratios = [safe_log_ratio(abs(i), abs(o)) for i, o in zip(inner, outer, strict=True)]
    return np.asarray(logged + ratios, dtype=np.float32)
