"""Frequency family: azimuthally averaged log power spectrum of the face.

Durall, Keuper & Keuper, "Watch your up-convolution: CNN based generative deep neural networks
are failing to reproduce spectral distributions", CVPR 2020. Generated faces are upsampled by
the synthesis network and then resampled into the frame, which bends the high-frequency tail
of the spectrum. The profile of the inner face is given relative to that of the whole crop, so
the camera's and codec's own roll-off, shared by both, largely cancels.
"""

from __future__ import annotations

import numpy as np

from common.features.regions import check_inputs, gray32

BINS = 12


def _radial_profile(img: np.ndarray, bins: int) -> np.ndarray:
    h, w = img.shape
    win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    spec = np.abs(np.fft.fftshift(np.fft.fft2((img - img.mean()) * win))) ** 2
    yy, xx = np.indices((h, w))
    r = np.hypot(yy - h / 2, xx - w / 2) / (min(h, w) / 2)
    edges = np.linspace(0.05, 1.0, bins + 1)
    idx = np.digitize(r.ravel(), edges) - 1
    valid = (idx >= 0) & (idx < bins)
    sums = np.bincount(idx[valid], weights=spec.ravel()[valid], minlength=bins)
    counts = np.bincount(idx[valid], minlength=bins)
    prof = np.log(sums / np.maximum(counts, 1) + 1e-10)
    return prof - prof[0]  # relative to the lowest band: contrast-invariant


def spectrum_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(2*BINS,) float32: inner-face profile, and its difference to the whole-crop profile."""
    check_inputs(crop, mask)
    g = gray32(crop)
    s = g.shape[0]
    q = s // 4
    inner = _radial_profile(g[q : s - q, q : s - q], BINS)
    whole = _radial_profile(g, BINS)
    return np.concatenate([inner, inner - whole]).astype(np.float32)
