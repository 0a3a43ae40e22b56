"""Upsampling family: resampling traces in the inner face's spectrum against its surround's.

A swapped face is synthesized at the generator's resolution and enlarged into the frame, and
generators themselves enlarge feature maps step by step. Enlarging by an integer factor with
a linear kernel (nearest, bilinear) makes the local variance of the derivatives periodic:
with a factor of 2, every other first difference (nearest) or second difference (bilinear)
is nearly zero, so the profile of their magnitudes peaks at N/2, and at N/4 for a factor of
4 (Gallagher, "Detection of linear and cubic interpolation in JPEG compressed images", CRV
2005; Popescu & Farid, IEEE TSP 2005). The interpolation kernel also damps the top of the
spectrum and bends its tail (Durall et al., "Watch your up-convolution: CNN based generative
deep neural networks are failing to reproduce spectral distributions", CVPR 2020; Frank et
al., "Leveraging frequency analysis for deep fake image recognition", ICML 2020). Every
measure is taken on the inner face and on the surround of the same crop and given as a
difference: what the whole frame shares (a rescaled video, the codec) cancels.

Measured on 16x16 patches on a grid of stride 8: a patch belongs to the inner face when at
least 3/4 of it lies there, to the surround when at least 3/4 lies outside the mask and its
blend band and at least 1/4 in the outer ring (the regions' ring of a 128-px crop is 8 px
wide, narrower than a patch). Per
patch: the Hann-windowed 2-D power spectrum of the grey level, and the power spectra of the
row profiles (mean over the patch's rows, and columns for the other axis) of |first| and
|second differences|, mean removed. Powers are averaged over a region's patches.

Columns (``COLUMNS``), each the inner face's value minus the surround's:

- ``nyq_d1_diff``, ``nyq_d2_diff``: log peak ratio at N/2 of the |first| and |second
  difference| profiles (power at bin 8 of 16 over its neighbour, bin 7);
- ``quarter_d1_diff``, ``quarter_d2_diff``: the same at N/4 (bin 4 over bins 3 and 5);
- ``high_mid_diff``: log(power at radius 0.25-0.5 / power at 0.125-0.25 cycles/px);
- ``top_notch_diff``: log(power at radius >= 0.4375 / power at 0.3125-0.4375), the damping
  just below Nyquist that an interpolation kernel leaves;
- ``tail_slope_diff``: least-squares slope of the log azimuthal power against log radius
  over 0.25-0.5 cycles/px.

Zeros when either region holds no patch. Cost per 128-px crop (``research.features_speed``,
one thread, shared machine at load 4-6): 1.04 ms alone, +0.90 ms within ``frame_vector``;
half of it the 2-D spectra (docs/speed.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from common.features.regions import check_inputs, gray32, regions

COLUMNS = (
    "nyq_d1_diff",
    "nyq_d2_diff",
    "quarter_d1_diff",
    "quarter_d2_diff",
    "high_mid_diff",
    "top_notch_diff",
    "tail_slope_diff",
)
LENGTH = len(COLUMNS)
PATCH, STRIDE = 16, 8
MIN_SHARE = 0.75  # of a patch's pixels in a region for the patch to count as that region's
RING_SHARE = 0.25  # of a surround patch's pixels in the outer ring: the surround hugs the face
EPS = 1e-12  # power floor: a flat patch has no spectrum, and its logs compare as equal
# A bin is compared with its neighbours above this share of the mean power (nearest
# upsampling empties the N/2 bin of the second differences: its log would run to -inf).
PEAK_FLOOR = 1e-2


@lru_cache(maxsize=4)
def _grid_rows(size: int) -> np.ndarray:
    """(patches per axis, size) float32: row j selects the PATCH pixels of the j-th grid
    patch along an axis, so ``g @ img`` sums each patch's rows and ``img @ g.T`` its columns."""
    starts = range(0, size - PATCH + 1, STRIDE)
    g = np.zeros((len(starts), size), np.float32)
    for j, a in enumerate(starts):
        g[j, a : a + PATCH] = 1
    return g


def _patch_shares(regions: list[np.ndarray]) -> np.ndarray:
    """(k, rows, cols) share of each grid patch's pixels in each of k boolean regions."""
    h, w = regions[0].shape
    return (_grid_rows(h) @ np.stack(regions).astype(np.float32) @ _grid_rows(w).T) / PATCH**2


@dataclass(frozen=True, slots=True)
class _Spectrum:
    """Constants of the patch spectra: the window, the DFT as real matrices, band weights."""

    window: np.ndarray  # (PATCH, PATCH) Hann, periodic: the window of a spectral estimate
    rows: np.ndarray  # (PATCH, 2 * BINS): [cos | sin] of the real DFT (``x @ rows``)
    cols: np.ndarray  # (PATCH, 2 * PATCH): [cos | sin] of the full DFT, transposed
    bands: np.ndarray  # (PATCH * BINS, 4): mean weights of the mid, high, below-top, top bands
    tail: np.ndarray  # flat indices of the high band's bins
    slope: np.ndarray  # least-squares slope weights over log radius of those bins


BINS = PATCH // 2 + 1  # of a real DFT of PATCH samples


@lru_cache(maxsize=1)
def _spectrum() -> _Spectrum:
    hann = np.hanning(PATCH + 1)[:-1]
    n = np.arange(PATCH)
    real = -2 * np.pi * np.outer(n, np.arange(BINS)) / PATCH
    full = -2 * np.pi * np.outer(n, n) / PATCH
    rho = np.hypot(np.fft.fftfreq(PATCH)[:, None], np.fft.rfftfreq(PATCH)[None, :]).ravel()
    masks = (
        (rho >= 0.125) & (rho < 0.25),  # mid
        (rho >= 0.25) & (rho <= 0.5),  # high: also the tail whose slope is fitted
        (rho >= 0.3125) & (rho < 0.4375),  # below the top
        (rho >= 0.4375) & (rho <= 0.5),  # top, just below Nyquist
    )
    x = np.log(rho[masks[1]])
    return _Spectrum(
        window=np.outer(hann, hann).astype(np.float32),
        rows=np.hstack([np.cos(real), np.sin(real)]).astype(np.float32),
        cols=np.hstack([np.cos(full), np.sin(full)]).T.astype(np.float32),
        bands=np.stack([m / m.sum() for m in masks], axis=1),
        tail=np.flatnonzero(masks[1]),
        slope=(x - x.mean()) / np.sum((x - x.mean()) ** 2),
    )


def _powers(patches: np.ndarray) -> np.ndarray:
    """(n, PATCH * BINS) windowed power spectra of (n, PATCH, PATCH) patches (flattened
    rfft2 layout): the real DFT of the rows, then the full DFT of the columns, each one
    matrix product over all patches."""
    sp, n = _spectrum(), len(patches)
    x = (patches - patches.mean(axis=(1, 2), keepdims=True)) * sp.window
    r = (x.reshape(-1, PATCH) @ sp.rows).reshape(n, PATCH, 2 * BINS)
    t = (r.transpose(0, 2, 1).reshape(-1, PATCH) @ sp.cols.T).reshape(n, 2, BINS, 2, PATCH)
    # (re + i im) of the rows, times (cos + i sin) of the columns
    real = t[:, 0, :, 0] - t[:, 1, :, 1]
    imag = t[:, 0, :, 1] + t[:, 1, :, 0]
    return (np.square(real) + np.square(imag)).transpose(0, 2, 1).reshape(n, -1)


def _spectral(power: np.ndarray) -> np.ndarray:
    """(3,) high/mid log ratio, top-notch log ratio and tail slope of a mean power spectrum."""
    sp = _spectrum()
    mid, high, below_top, top = power @ sp.bands + EPS
    tail = sp.slope @ np.log(power[sp.tail] + EPS)
    return np.array([np.log(high / mid), np.log(top / below_top), tail])


def _profile_windows(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every grid patch's profiles, as sums, of |first| and |second differences|: along x
    (summed over the patch's rows), (2, rows, cols, PATCH); along y (summed over its
    columns), (2, cols, rows, PATCH). A difference that would leave the crop counts 0."""
    d = np.zeros((4, *grey.shape), np.float32)
    np.abs(grey[:, 1:] - grey[:, :-1], out=d[0, :, :-1])
    np.abs(grey[:, :-2] - 2 * grey[:, 1:-1] + grey[:, 2:], out=d[1, :, 1:-1])
    np.abs(grey[1:] - grey[:-1], out=d[2, :-1])
    np.abs(grey[:-2] - 2 * grey[1:-1] + grey[2:], out=d[3, 1:-1])
    h, w = grey.shape
    lines = (_grid_rows(h) @ d[:2], _grid_rows(w) @ d[2:].transpose(0, 2, 1))
    return tuple(  # type: ignore[return-value]
        np.lib.stride_tricks.sliding_window_view(x, PATCH, axis=2)[:, :, ::STRIDE] for x in lines
    )


def _peaks(power: np.ndarray) -> np.ndarray:
    """(4,) log peak ratios at N/2 (d1, d2) and N/4 (d1, d2) of (2, BINS) profile powers."""
    floor = PEAK_FLOOR * power[:, 1:].mean(axis=1) + EPS  # keeps a vanished bin's log finite
    half, quarter = PATCH // 2, PATCH // 4
    nyq = np.log((power[:, half] + floor) / (power[:, half - 1] + floor))
    nb = 0.5 * (power[:, quarter - 1] + power[:, quarter + 1])
    qtr = np.log((power[:, quarter] + floor) / (nb + floor))
    return np.concatenate([nyq, qtr])


def region_spectra(crop: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean power spectra of the inner face (row 0) and the surround (row 1), or None when
    either has no patch: (2, 2, BINS) of the |first| and |second difference| profiles (x
    and y together), and (2, PATCH * BINS) of the windowed grey patches (rfft2 layout)."""
    reg = regions(mask)
    inner, clear, ring = _patch_shares([reg.inner, ~(reg.face | reg.band), reg.outer])
    # The surround: patches clear of the mask and its band, a quarter or more in the ring.
    chosen = (inner >= MIN_SHARE, (clear >= MIN_SHARE) & (ring >= RING_SHARE))
    if not chosen[0].any() or not chosen[1].any():
        return None
    rows, cols = np.nonzero(np.stack(chosen))[1:]  # inner patches first, then the surround
    split = int(np.count_nonzero(chosen[0]))
    grey = gray32(crop)
    along_x, along_y = _profile_windows(grey)
    t = np.concatenate([along_x[:, rows, cols], along_y[:, cols, rows]]) @ _spectrum().rows
    prof = np.square(t[..., :BINS]) + np.square(t[..., BINS:])  # (4, n, BINS)
    prof = prof[:2] + prof[2:]  # (d1, d2): x and y profiles together
    patches = np.lib.stride_tricks.sliding_window_view(grey, (PATCH, PATCH))[::STRIDE, ::STRIDE]
    power = _powers(patches[rows, cols])
    parts = (slice(None, split), slice(split, None))
    return (
        np.stack([prof[:, part].mean(axis=1) for part in parts]),
        np.stack([power[part].mean(axis=0) for part in parts]),
    )


def upsampling_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(7,) float32: inner face minus surround of upsampling-trace spectral measures.

    Columns are named in ``COLUMNS``. Zeros when either region holds no whole patch.
    """
    check_inputs(crop, mask)
    spectra = region_spectra(crop, mask)
    if spectra is None:
        return np.zeros(LENGTH, np.float32)
    prof, power = spectra
    inside, outside = (np.concatenate([_peaks(prof[j]), _spectral(power[j])]) for j in (0, 1))
    return (inside - outside).astype(np.float32)
