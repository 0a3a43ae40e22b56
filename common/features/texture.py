"""Texture family: rotation-invariant uniform LBP histograms of the inner face.

Ojala, Pietikäinen & Mäenpää, "Multiresolution gray-scale and rotation invariant texture
classification with local binary patterns", IEEE TPAMI 2002 (the riu2 mapping, P=8). Used for
face spoofing and manipulation detection since Määttä et al. (IJCB 2011). Two radii, the
histogram of the inner face and its difference to the outer ring's.
"""

from __future__ import annotations

import numpy as np

from common.features.regions import check_inputs, gray32, regions

P = 8
RADII = (1, 2)
NBINS = P + 2

# riu2 lookup: number of 1 bits for uniform codes (<= 2 transitions), P + 1 otherwise.
_codes = np.arange(256)
_bits = (_codes[:, None] >> np.arange(P)) & 1
_transitions = np.sum(_bits != np.roll(_bits, 1, axis=1), axis=1)
RIU2 = np.where(_transitions <= 2, _bits.sum(axis=1), P + 1).astype(np.int64)


def lbp_riu2(gray: np.ndarray, radius: int) -> np.ndarray:
    """riu2 LBP codes (0..P+1) of each pixel; the border of width ``radius`` is edge-padded."""
    pad = np.pad(gray, radius, mode="edge")
    h, w = gray.shape
    code = np.zeros((h, w), np.uint8)  # P = 8 bits
    for k in range(P):
        ang = 2 * np.pi * k / P
        # Nearest-pixel sampling: the interpolated version costs 4x and changes little at R<=2.
        dy, dx = int(round(-radius * np.sin(ang))), int(round(radius * np.cos(ang)))
        nb = pad[radius + dy : radius + dy + h, radius + dx : radius + dx + w]
        code |= (nb >= gray).view(np.uint8) << np.uint8(k)
    return RIU2[code]


def _hist(codes: np.ndarray, where: np.ndarray) -> np.ndarray:
    h = np.bincount(codes[where], minlength=NBINS).astype(np.float32)
    return h / max(h.sum(), 1.0)


def texture_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(2*len(RADII)*NBINS,) float32: inner-face LBP histograms and inner-minus-outer."""
    check_inputs(crop, mask)
    g = gray32(crop)
    reg = regions(mask)
    parts = []
    for r in RADII:
        codes = lbp_riu2(g, r)
        hi = _hist(codes, reg.inner)
        parts += [hi, hi - _hist(codes, reg.outer)]
    return np.concatenate(parts).astype(np.float32)
