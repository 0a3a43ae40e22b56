"""Temporal family: how the per-frame measures vary from frame to frame within a clip.

A face synthesized frame by frame lacks the temporal coherence of a filmed one: its blend
edge, texture and spectrum jitter between frames (Sabir et al., "Recurrent convolutional
strategies for face manipulation detection in videos", CVPRW 2019, learn this end to end;
here it is measured directly). For each frame family, the mean absolute change between
consecutive sampled frames, relative to that family's spread over the clip.
"""

from __future__ import annotations

import numpy as np


def temporal_features(frames: np.ndarray, slices: list[slice]) -> np.ndarray:
    """(2*len(slices),) float32 from a (T, D) matrix of frame vectors, one pair per family.

    For each family: log mean |x_t+1 - x_t| and its ratio to the clip's standard deviation
    (about sqrt(2) for independent frames, lower for smooth ones). Zeros for a single frame.
    """
    if frames.ndim != 2:
        raise ValueError(f"want a (T, D) matrix of frame vectors, got shape {frames.shape}")
    out = np.zeros(2 * len(slices), np.float32)
    if frames.shape[0] < 2:
        return out
    diffs = np.abs(np.diff(frames, axis=0))
    for k, sl in enumerate(slices):
        step = float(diffs[:, sl].mean())
        spread = float(frames[:, sl].std(axis=0).mean())
        out[2 * k] = np.log(step + 1e-6)
        out[2 * k + 1] = step / (spread + 1e-6)
    return out
