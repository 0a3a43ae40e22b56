"""Face-vs-surround family: the same residual measures inside the face and in the ring around it.

A swapped face is synthesized at the generator's own resolution (64 to 256 px), resized into
the frame and blended, so its fine detail and noise come from another source than the pixels
around it. Every measure here is taken on the inner face and on the outer ring of the same
crop and given as a log ratio or a difference of log ratios: each video is its own
reference, so what the whole frame shares (camera noise, codec, a global blur or rescale)
cancels to first order.

- Band energies: Burt & Adelson's Laplacian pyramid ("The Laplacian pyramid as a compact
  image code", IEEE Trans. Comm. 1983) as three difference-of-Gaussian bands (sigma 0-1,
  1-2, 2-4 px); an upsampled face lacks the top band relative to its surround (Li & Lyu,
  "Exposing deepfake videos by detecting face warping artifacts", CVPRW 2019).
- Noise residuals: the high-pass filters of Fridrich & Kodovsky's spatial rich model
  ("Rich models for steganalysis of digital images", IEEE TIFS 2012), as used for
  manipulation detection by Zhou et al. ("Learning rich features for image manipulation
  detection", CVPR 2018) and Cozzolino et al. (IH&MMSec 2017).
- Chroma: high-pass energy of Cr and Cb, and of chroma against luma, inside vs outside: a face
  rendered and colour-corrected on its own carries chroma detail unlike the frame's.
"""

from __future__ import annotations

import cv2
import numpy as np

from common.features.regions import (
    INNER,
    OUTER,
    check_inputs,
    gather,
    regions,
    safe_log_ratio,
    segment_sums,
    span,
)

# 1st-order-free residuals of the rich model: 2nd-order horizontal and vertical, the 3x3
# "square" (KB) and the 5x5 "square" (KV) filters, each scaled to unit gain on its pattern.
SRM_FILTERS = (
    np.array([[0, 0, 0], [1, -2, 1], [0, 0, 0]], np.float32) / 2,
    np.array([[0, 1, 0], [0, -2, 0], [0, 1, 0]], np.float32) / 2,
    np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], np.float32) / 4,
    np.array(
        [
            [-1, 2, -2, 2, -1],
            [2, -6, 8, -6, 2],
            [-2, 8, -12, 8, -2],
            [2, -6, 8, -6, 2],
            [-1, 2, -2, 2, -1],
        ],
        np.float32,
    )
    / 12,
)
BAND_SIGMAS = (1.0, 2.0, 4.0)
COLUMNS = (
    "band0_ratio",  # log mean |DoG 0-1| inside / outside
    "band1_ratio",  # same, 1-2 px
    "band2_ratio",  # same, 2-4 px
    "slope01_diff",  # log(band0 / band1) inside minus outside: the spectrum's tilt
    "slope12_diff",  # log(band1 / band2) inside minus outside
    "srm_h_ratio",
    "srm_v_ratio",
    "srm_kb_ratio",
    "srm_kv_ratio",
    "cr_hp_ratio",
    "cb_hp_ratio",
    "chroma_luma_diff",  # log(chroma HP / luma HP) inside minus outside
    "kurtosis_ratio",  # peakedness of the band-0 residual inside vs outside
)
LENGTH = len(COLUMNS)


def _maps(crop: np.ndarray) -> list[np.ndarray]:
    """Residual maps of one crop, signed: 3 bands, 4 SRM residuals, Cr and Cb high-pass."""
    ycc = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb).astype(np.float32) * np.float32(1 / 255)
    y = np.ascontiguousarray(ycc[..., 0])
    blurred = [y] + [cv2.GaussianBlur(y, (0, 0), s) for s in BAND_SIGMAS]
    bands = [blurred[i] - blurred[i + 1] for i in range(len(BAND_SIGMAS))]
    srm = [cv2.filter2D(y, -1, k, borderType=cv2.BORDER_REFLECT) for k in SRM_FILTERS]
    chroma = []
    for ch in (1, 2):
        c = np.ascontiguousarray(ycc[..., ch])
        chroma.append(c - cv2.GaussianBlur(c, (0, 0), BAND_SIGMAS[0]))
    return [*bands, *srm, *chroma]


def surround_features(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(13,) float32: face-vs-ring log ratios of band, rich-model and chroma residuals.

    Columns are named in ``COLUMNS``. Zeros when the mask leaves no inner face or no ring.
    """
    check_inputs(crop, mask)
    reg = regions(mask)
    if reg.counts[INNER] == 0 or reg.counts[OUTER] == 0:
        return np.zeros(LENGTH, np.float32)
    idx = span(reg, INNER, OUTER)
    # rows: the 9 residuals at the regions' pixels (float64), then b0^2 and b0^4; the
    # absolute values are taken on those pixels only (the same numbers as on the maps).
    px = np.empty((11, idx.size))
    gather(_maps(crop), idx, px)
    np.square(px[0], out=px[9])
    np.multiply(px[9], px[9], out=px[10])
    np.abs(px[:9], out=px[:9])
    sums = segment_sums(px, reg, INNER, OUTER)
    m_in, m_out = (sums[:, j] / reg.counts[INNER + j] for j in (0, 1))
    # rows of m_in / m_out: 3 bands, 4 SRM residuals, Cr and Cb high-pass, b0^2, b0^4
    ratios = [safe_log_ratio(a, b) for a, b in zip(m_in[:9], m_out[:9], strict=True)]
    slope = [ratios[0] - ratios[1], ratios[1] - ratios[2]]
    cl_in = safe_log_ratio(m_in[7] + m_in[8], m_in[0])
    cl_out = safe_log_ratio(m_out[7] + m_out[8], m_out[0])
    kurt_in = m_in[10] / (m_in[9] ** 2 + 1e-12)
    kurt_out = m_out[10] / (m_out[9] ** 2 + 1e-12)
    kurt = safe_log_ratio(kurt_in, kurt_out)
    out = [*ratios[:3], *slope, *ratios[3:7], *ratios[7:9], cl_in - cl_out, kurt]
    return np.asarray(out, dtype=np.float32)
