"""Frequency family: azimuthally averaged log power spectrum of the face.

Durall, Keuper & Keuper, "Watch your up-convolution: CNN based generative deep neural networks
are failing to reproduce spectral distributions", CVPR 2020. Generated faces are upsampled by
the synthesis network and then resampled into the frame, which bends the high-frequency tail
of the spectrum. The profile of the inner face is given relative to that of the whole crop, so
the camera's and codec's own roll-off, shared by both, largely cancels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from common.features.regions import check_inputs, gray32

BINS = 12


@lru_cache(maxsize=16)
def _geometry(h: int, w: int, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Window, and for the rfft2 half plane: flat index, bin and weight of each kept pixel.

    The power spectrum of a real image is point-symmetric and so are the radial bins, so the
    half plane, each column weighted by how many full-plane columns it stands for (1 for
    kx = 0 and the Nyquist column, else 2), gives the full plane's bin sums.
    """
    win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    # Unshifted layout: frequency ky, kx of each FFT bin (what fftshift centres).
    ky = np.fft.fftfreq(h, 1.0 / h)[:, None]
    kx = np.fft.fftfreq(w, 1.0 / w)[None, :]
    # Same radius as computed on the shifted grid: yy - h/2 = ky (with -h/2 for Nyquist).
    ky = np.where(ky == h / 2, -h / 2, ky)
    kx = np.where(kx == w / 2, -w / 2, kx)
    r = np.hypot(ky, kx) / (min(h, w) / 2)
    edges = np.linspace(0.05, 1.0, bins + 1)
    idx = np.digitize(r, edges) - 1
    half = w // 2 + 1
    idx_h = idx[:, :half]
    mirror = idx[(-np.arange(h)) % h][:, (-np.arange(half)) % w]
    if not np.array_equal(idx_h, mirror):  # cannot happen for a radius; guard the identity
        raise AssertionError("radial bins are not point-symmetric")
    mult = np.full(half, 2.0)
    mult[0] = 1.0
    if w % 2 == 0:
        mult[-1] = 1.0
    keep = (idx_h >= 0) & (idx_h < bins)
    weights = np.broadcast_to(mult, idx_h.shape)
    return win, np.flatnonzero(keep), idx_h[keep], weights[keep]


def _radial_profile(img: np.ndarray, bins: int) -> np.ndarray:
    h, w = img.shape
    win, keep, idx, weights = _geometry(h, w, bins)
    x = img - img.mean()
    x *= win
    # rfft2 is this pair of 1-D transforms (numpy's rfftn runs exactly these), minus its
    # argument handling; only the kept coefficients are squared.
    f = np.fft.fft(np.fft.rfft(x), axis=0).ravel().take(keep)
    spec = f.real * f.real + f.imag * f.imag
    sums = np.bincount(idx, weights=spec * weights, minlength=bins)
    counts = _counts(h, w, bins)
    prof = np.log(sums / np.maximum(counts, 1) + 1e-10)
    return prof - prof[0]  # relative to the lowest band: contrast-invariant


@lru_cache(maxsize=16)
def _counts(h: int, w: int, bins: int) -> np.ndarray:
    """Full-plane pixel count per bin (the mean is over the whole annulus)."""
    _, _, idx, weights = _geometry(h, w, bins)
    return np.bincount(idx, weights=weights, minlength=bins)


def spectrum_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(2*BINS,) float32: inner-face profile, and its difference to the whole-crop profile."""
    check_inputs(crop, mask)
    g = gray32(crop)
    s = g.shape[0]
    q = s // 4
    inner = _radial_profile(g[q : s - q, q : s - q], BINS)
    whole = _radial_profile(g, BINS)
    return np.concatenate([inner, inner - whole]).astype(np.float32)
