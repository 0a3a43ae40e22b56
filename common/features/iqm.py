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

from common.features.regions import check_inputs, gray32, regions, safe_log_ratio

MEASURES = ("mse", "ad", "nae", "md", "sc", "nxc", "lmse", "gme")


def _measures(
    img: np.ndarray,
    blur: np.ndarray,
    lap: np.ndarray,
    lap_b: np.ndarray,
    grad: np.ndarray,
    grad_b: np.ndarray,
    where: np.ndarray,
) -> list[float]:
    if not where.any():
        return [0.0] * len(MEASURES)
    a, b = img[where], blur[where]
    d = a - b
    eps = 1e-6
    la, lb = lap[where], lap_b[where]
    ga, gb = grad[where], grad_b[where]
    return [
        float(np.mean(d * d)),  # mean squared error
        float(np.mean(np.abs(d))),  # average (absolute) difference
        float(np.sum(np.abs(d)) / (np.sum(np.abs(a)) + eps)),  # normalized absolute error
        float(np.max(np.abs(d))),  # maximum difference
        float(np.sum(a * a) / (np.sum(b * b) + eps)),  # structural content
        float(np.sum(a * b) / (np.sum(a * a) + eps)),  # normalized cross-correlation
        float(np.mean((la - lb) ** 2) / (np.mean(la * la) + eps)),  # Laplacian MSE
        float(np.mean((ga - gb) ** 2)),  # gradient magnitude error
    ]


def _grad(img: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def iqm_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(2*len(MEASURES),) float32: inner-face measures (log-scaled) and inner/outer log ratios."""
    check_inputs(crop, mask)
    img = gray32(crop)
    blur = cv2.GaussianBlur(img, (0, 0), 1.0)
    lap, lap_b = cv2.Laplacian(img, cv2.CV_32F), cv2.Laplacian(blur, cv2.CV_32F)
    grad, grad_b = _grad(img), _grad(blur)
    reg = regions(mask)
    inner = _measures(img, blur, lap, lap_b, grad, grad_b, reg.inner)
    outer = _measures(img, blur, lap, lap_b, grad, grad_b, reg.outer)
    logged = [float(np.log(abs(v) + 1e-6)) for v in inner]
    ratios = [safe_log_ratio(abs(i), abs(o)) for i, o in zip(inner, outer, strict=True)]
    return np.asarray(logged + ratios, dtype=np.float32)
