"""Flicker family: how the face changes against its surround between consecutive frames.

A face swap is synthesized and colour-corrected frame by frame, then pasted: its brightness,
colour and fine detail jump from one frame to the next independently of the pixels around it,
while a filmed face changes together with its surround (Sabir et al., "Recurrent
convolutional strategies for face manipulation detection in videos", CVPRW 2019; Zheng et al.,
"Exploring temporal coherence for more general video face forgery detection", ICCV 2021,
learn this end to end; here it is measured directly). Only pairs of frames that are
consecutive in the video count (runs of the ``segments`` sampling); the face of frame t+1 is
aligned to frame t by a similarity fitted on its stable landmarks (eye corners, nose), so head
motion does not count as flicker.

Columns (zeros without a consecutive pair):
- ``lab_jump_L``, ``lab_jump_a``, ``lab_jump_b``: log mean |change of (inner mean - ring
  mean)| of each CIELAB channel between consecutive frames (0..255 units);
- ``lab_jump_vs_ring``: log ratio of the L jump to the ring's own mean |change of L| (light
  that changes for the whole scene moves both);
- ``detail_flicker0``, ``detail_flicker1``: log ratio, inner face vs ring, of the aligned
  frame-to-frame change of the band-0 (sigma 0-1) and band-1 (sigma 1-2) residuals, each
  relative to that band's energy;
- ``detail_flicker_in``: log of the inner face's relative band-0 change alone.
"""

from __future__ import annotations

import cv2
import numpy as np

from common.features.regions import (
    INNER,
    OUTER,
    lab8,
    regions,
    safe_log_ratio,
    segment_mean,
    span,
)
from common.types import FaceTrack

# Eye corners, nose bridge and nostrils: points a swap keeps where the target's face is.
STABLE = (27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45)
COLUMNS = (
    "lab_jump_L",
    "lab_jump_a",
    "lab_jump_b",
    "lab_jump_vs_ring",
    "detail_flicker0",
    "detail_flicker1",
    "detail_flicker_in",
)
LENGTH = len(COLUMNS)
_EPS = 1e-6


def consecutive_pairs(frame_index: np.ndarray) -> list[int]:
    """Positions t whose next sampled frame is the next frame of the video."""
    return [t for t in range(len(frame_index) - 1) if frame_index[t + 1] - frame_index[t] == 1]


def _frame_stats(crop: np.ndarray, mask: np.ndarray):  # type: ignore[no-untyped-def]
    """Regions, the inner face's and the ring's mean Lab colours, the band-0/1 residuals."""
    reg = regions(mask)
    lab = lab8(crop)
    # Means over the gathered pixels of each segment: the same float32 values in the same
    # order as over the whole converted image, without converting the rest of it.
    means = [
        segment_mean(lab, reg, s, np.float32) if reg.counts[s] else np.zeros(3, np.float32)
        for s in (INNER, OUTER)
    ]
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32) * np.float32(1 / 255)
    g1 = cv2.GaussianBlur(g, (0, 0), 1.0)
    g2 = cv2.GaussianBlur(g1, (0, 0), np.sqrt(3.0))  # sigma 1 then sqrt(3): sigma 2 in all
    return reg, means, (g - g1, g1 - g2)


def _pair_values(a, b, m: np.ndarray | None) -> list[float]:  # type: ignore[no-untyped-def]
    """[dL, da, db, d ring L, detail0 ratio, detail1 ratio, detail0 inside] of one pair."""
    reg, (in0, out0), bands0 = a
    _, (in1, out1), bands1 = b
    jump = np.abs((in1 - out1) - (in0 - out0))
    values = [*jump.tolist(), float(abs(out1[0] - out0[0]))]
    if m is None or not reg.counts[INNER] or not reg.counts[OUTER]:
        return values + [np.nan, np.nan, np.nan]
    size = bands0[0].shape[::-1]
    # Change and energy only where they are averaged (inner face, ring): per pixel the same
    # float32 numbers as on the whole map.
    idx, n_in = span(reg, INNER, OUTER), int(reg.counts[INNER])
    rel = []
    for k in (0, 1):
        moved = cv2.warpAffine(
            bands1[k], m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        now, before = moved.ravel().take(idx), bands0[k].ravel().take(idx)
        diff, energy = np.abs(now - before), 0.5 * (np.abs(now) + np.abs(before))
        rel.append(
            [
                float(diff[sl].mean()) / (float(energy[sl].mean()) + _EPS)
                for sl in (slice(0, n_in), slice(n_in, None))
            ]
        )
    return values + [safe_log_ratio(*rel[0]), safe_log_ratio(*rel[1]), rel[0][0]]


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    if np.isnan(src).any() or np.isnan(dst).any():
        return None
    m, _ = cv2.estimateAffinePartial2D(src, dst)
    return m


def flicker_pairs(track: FaceTrack) -> np.ndarray:
    """(P, 7) per consecutive pair: Lab jumps (3), ring L change, detail changes (3; NaN
    without landmarks)."""
    pairs = consecutive_pairs(track.frame_index)
    stats: dict[int, tuple] = {}
    rows = []
    for t in pairs:
        for u in (t, t + 1):
            if u not in stats:
                stats[u] = _frame_stats(track.crops[u], track.masks[u])
        for u in [u for u in stats if u < t]:
            del stats[u]  # pairs come in order: no later pair reads an earlier frame
        lm = track.landmarks
        m = _similarity(lm[t + 1][list(STABLE)], lm[t][list(STABLE)])
        rows.append(_pair_values(stats[t], stats[t + 1], m))
    return np.asarray(rows, np.float64).reshape(len(rows), 7)


def flicker_features(track: FaceTrack) -> np.ndarray:
    """(7,) float32 clip vector, columns as in ``COLUMNS``."""
    out = np.zeros(LENGTH, np.float32)
    p = flicker_pairs(track)
    if not len(p):
        return out
    jump = p[:, :4].mean(axis=0)
    out[:3] = np.log(jump[:3] + 1e-3)
    out[3] = safe_log_ratio(jump[0], jump[3])
    aligned = p[~np.isnan(p[:, 4])]
    if len(aligned):
        out[4:6] = aligned[:, 4:6].mean(axis=0)
        out[6] = np.log(aligned[:, 6].mean() + 1e-3)
    return out
