"""Shared preprocessing for the feature families: grey/float conversion and face regions.

Regions are derived from the face mask of a crop: the inner face, a band straddling the mask
edge (where a swapped face is pasted and blended), and the ring of skin, hair and background
just outside it. Self-referenced measures (inside vs outside the same crop) cancel what the
whole frame shares (camera, codec, global blur), leaving what differs at the paste.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from common.features.memo import last_input_memo


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def check_inputs(crop: np.ndarray, mask: np.ndarray) -> None:
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise ValueError(f"crop must be (H, W, 3) uint8 BGR, got {crop.shape} {crop.dtype}")
    if mask.shape != crop.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match crop {crop.shape[:2]}")


@last_input_memo
def gray8(crop: np.ndarray) -> np.ndarray:
    return _frozen(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))


@last_input_memo
def gray32(crop: np.ndarray) -> np.ndarray:
    return _frozen(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0)


def _lab8(crop: np.ndarray) -> np.ndarray:
    return _frozen(cv2.cvtColor(crop, cv2.COLOR_BGR2LAB))


# CIELAB (OpenCV's 8-bit scaling): boundary per frame, flicker again over the track.
lab8 = last_input_memo(_lab8, track=True, frame=False)


@dataclass(frozen=True, slots=True)
class Regions:
    """Boolean masks over the crop, and the same pixels gathered for per-region sums.

    ``index`` lists the flat pixel indices of the segments BAND_IN (band inside the mask),
    BAND_OUT (band outside it), INNER and OUTER, in that order, ``counts`` their sizes. The
    segments are disjoint (the inner face is eroded past the band, the outer ring dilated
    past it), so every region a family measures is one segment or a union of adjacent ones,
    and a family takes its per-pixel measures at ``index`` once and sums them per segment
    (:func:`segment_sums`) instead of indexing every measure with every mask.
    """

    inner: np.ndarray
    band: np.ndarray
    outer: np.ndarray
    face: np.ndarray
    index: np.ndarray
    counts: np.ndarray


# In this order the band, and the inner face with the outer ring, are each adjacent.
SEGMENTS = (BAND_IN, BAND_OUT, INNER, OUTER) = range(4)


def _kernel(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _points(kernel: np.ndarray) -> np.ndarray:
    """(n, 2) offsets (dy, dx) from the centre of the ones of an odd square kernel."""
    return np.argwhere(kernel > 0) - kernel.shape[0] // 2


def _trim(kernel: np.ndarray) -> np.ndarray:
    """The kernel cut to the smallest centred square holding its ones (same filter)."""
    c = kernel.shape[0] // 2
    e = int(np.abs(_points(kernel)).max())
    return np.ascontiguousarray(kernel[c - e : c + e + 1, c - e : c + e + 1])


@lru_cache(maxsize=8)
def _doubling(radius: int) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Kernels (A, S) with disc(2r) = (disc(r) + A) | S, or None where they do not exist.

    A disc filter costs about its area, so the disc of 2r is filtered as the already
    computed disc-of-r result filtered again by A (the largest set with disc(r) + A inside
    disc(2r)), and the few offsets S that this Minkowski sum misses, on the mask itself:
    dilate(m, disc(2r)) = dilate(dilate(m, disc(r)), A) | dilate(m, S), and for erosion the
    same with &. The first stage is clipped to the crop, which is harmless when every offset
    v of disc(r) + A splits as a + (v - a) with a in disc(r) lying between 0 and v (the
    intermediate pixel then lies in the crop whenever both ends do); that is checked here.
    """
    small, big = _kernel(radius), _kernel(2 * radius)
    border = {"borderType": cv2.BORDER_CONSTANT, "borderValue": 0}
    a = cv2.erode(big, small, **border)
    covered = cv2.dilate(a, small, **border)
    s = big & (covered == 0)
    if not all(np.array_equal(k, k[::-1]) and np.array_equal(k, k[:, ::-1]) for k in (a, small)):
        return None  # the check below relies on the mirror symmetry of discs
    # With 0 <= a <= v, a and v - a lie in v's quadrant: so the check is that every covered
    # offset of a quadrant is a sum of offsets of disc(r) and A in that quadrant; by
    # symmetry, the quadrant dy, dx >= 0 (offsets 0..2r) stands for all four.
    c = 2 * radius
    a_q = a[c:, c:] > 0
    sums_q = np.zeros_like(a_q)
    for dy, dx in _points(small):
        if dy >= 0 and dx >= 0:
            sums_q[dy:, dx:] |= a_q[: c + 1 - dy, : c + 1 - dx]
    if not np.all(sums_q | (covered[c:, c:] == 0)):
        return None
    return _trim(a), (_trim(s) if s.any() else None)


def _doubled(op: Callable[..., np.ndarray], m: np.ndarray, by_r: np.ndarray, r: int) -> np.ndarray:
    """``op`` (cv2.erode or cv2.dilate) of m by disc(2r), given ``by_r`` = op of m by disc(r);
    identical to ``op(m, _kernel(2 * r))`` (see :func:`_doubling`)."""
    kernels = _doubling(r)
    if kernels is None:
        return op(m, _kernel(2 * r))
    a, s = kernels
    out = op(by_r, a)
    if s is not None:
        combine = cv2.min if op is cv2.erode else cv2.max
        combine(out, op(m, s), dst=out)
    return out


def _regions(mask: np.ndarray) -> Regions:
    size = mask.shape[0]
    k = max(2, size // 32)
    m = (mask > 0.5).astype(np.uint8)
    erode_k, dilate_k = cv2.erode(m, _kernel(k)), cv2.dilate(m, _kernel(k))
    inner = _doubled(cv2.erode, m, erode_k, k)
    dilate_2k = _doubled(cv2.dilate, m, dilate_k, k)
    band = dilate_k - erode_k
    outer = _doubled(cv2.dilate, m, dilate_2k, 2 * k) - dilate_2k
    inner, band, outer, face = (_frozen(r > 0) for r in (inner, band, outer, m))
    segments = [band & face, band & ~face, inner, outer]
    index = np.concatenate([np.flatnonzero(s) for s in segments])
    counts = np.array([np.count_nonzero(s) for s in segments])
    return Regions(inner, band, outer, face, _frozen(index), _frozen(counts))


# The clip families (flicker) read every mask of the track again: kept per track.
regions = last_input_memo(_regions, track=True)


def span(reg: Regions, first: int, last: int) -> np.ndarray:
    """Flat indices of the pixels of the adjacent segments ``first`` to ``last``."""
    lo = int(reg.counts[:first].sum())
    return reg.index[lo : lo + int(reg.counts[first : last + 1].sum())]


def segment_mean(
    values: np.ndarray, reg: Regions, segment: int, dtype: type | None = None
) -> np.ndarray:
    """Mean over one segment's pixels of (H, W, ...) ``values``, equal to the bit to
    ``values[mask].mean(axis=0)`` with that segment's boolean mask: the same pixels in the same
    (row-major) order, gathered by their flat indices instead of scanning the mask. With
    ``dtype``, the gathered pixels are converted first: ``values.astype(dtype)``'s mean,
    without converting the pixels of other segments."""
    flat = values.reshape(-1, *values.shape[2:])
    px = flat.take(span(reg, segment, segment), axis=0)
    return (px if dtype is None else px.astype(dtype)).mean(axis=0)


def segment_sums(
    values: np.ndarray, reg: Regions, first: int = 0, last: int = len(SEGMENTS) - 1
) -> np.ndarray:
    """Sums of float64 values gathered at ``span(reg, first, last)`` ((K, N)) over each of
    those segments: (K, last - first + 1), 0 for an empty segment.

    Accumulated in float64, so the sums are at least as exact as the float32 pairwise sums of
    ``np.mean`` on the masked pixels that they replace.
    """
    counts = reg.counts[first : last + 1]
    starts = np.cumsum(counts) - counts
    if counts.all():
        return np.add.reduceat(values, starts, axis=1)
    out = np.zeros((len(values), len(counts)))
    full = counts > 0
    if full.any():  # reduceat of an empty segment would give the next element, not 0
        out[:, full] = np.add.reduceat(values, starts[full], axis=1)
    return out


def gather(
    maps: Sequence[np.ndarray],
    where: np.ndarray,
    out: np.ndarray | None = None,
    dtype: type = np.float64,
) -> np.ndarray:
    """(len(maps), N): the values of each (H, W) map at the flat indices ``where`` (written
    into the first rows of ``out`` when given)."""
    if out is None:
        out = np.empty((len(maps), len(where)), dtype)
    for row, m in zip(out, maps, strict=False):
        row[:] = m.ravel().take(where)
    return out


@lru_cache(maxsize=16)
def _union_matrix(unions: tuple[tuple[int, ...], ...]) -> np.ndarray:
    m = np.zeros((len(SEGMENTS), len(unions)))
    for j, u in enumerate(unions):
        m[list(u), j] = 1.0
    return m


def union_means(sums: np.ndarray, reg: Regions, unions: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """(K, len(unions)) means over unions of segments from :func:`segment_sums` (0 if empty)."""
    m = _union_matrix(unions)
    return (sums @ m) / np.maximum(reg.counts @ m, 1)  # an empty union sums to 0: mean 0


def magnitude(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """sqrt(gx^2 + gy^2), float32, the same to the bit in every process.

    cv2.magnitude rounds differently on its aligned and unaligned SIMD paths, so its result
    depended on where the output array happened to be allocated (1 ulp, different from one
    process to the next); numpy's elementwise ops are correctly rounded wherever the data is.
    """
    return np.sqrt(gx * gx + gy * gy)


def safe_log_ratio(a: float, b: float, eps: float = 1e-6) -> float:
    return float(np.log((a + eps) / (b + eps)))
