"""Artifact measures: an explicit, ordered, versioned registry of feature families.

Each frame family is one pure function ``(crop, mask) -> 1-D float32 vector`` of fixed length
(crop: (S, S, 3) uint8 BGR face crop with margin; mask: (S, S) float32 inner-face mask). A
video is described by the mean and spread of each family over its frames plus the temporal
family. No feature sees file size, image size, codec or other metadata: every input is the
canonical crop. Bump FEATURE_VERSION whenever any family's output changes; model bundles
record it and refuse to score vectors of another version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from common.features.boundary import LENGTH as BOUNDARY_LENGTH
from common.features.boundary import boundary_features
from common.features.iqm import MEASURES, iqm_features
from common.features.spectrum import BINS, spectrum_features
from common.features.temporal import temporal_features
from common.features.texture import NBINS, RADII, texture_features

FEATURE_VERSION = "1.1"

FrameFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, slots=True)
class FeatureFamily:
    name: str
    fn: FrameFn
    length: int
    reference: str


# Order matters: it is the column order of every vector and model. Append, never reorder.
FAMILIES: tuple[FeatureFamily, ...] = (
    FeatureFamily("frequency", spectrum_features, 2 * BINS, "Durall et al., CVPR 2020"),
    FeatureFamily("quality", iqm_features, 2 * len(MEASURES), "Galbally et al., TIP 2014"),
    FeatureFamily("boundary", boundary_features, BOUNDARY_LENGTH, "Li et al., CVPR 2020"),
    FeatureFamily("texture", texture_features, 2 * len(RADII) * NBINS, "Ojala et al., TPAMI 2002"),
)
FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES)
TEMPORAL = "temporal"
ALL_FAMILIES: tuple[str, ...] = (*FAMILY_NAMES, TEMPORAL)


def select(names: Sequence[str] | None = None) -> tuple[FeatureFamily, ...]:
    """Families by name, always in registry order; None = all frame families."""
    if names is None:
        return FAMILIES
    unknown = set(names) - set(ALL_FAMILIES)
    if unknown:
        raise ValueError(f"unknown feature families: {sorted(unknown)}")
    return tuple(f for f in FAMILIES if f.name in names)


def frame_vector(
    crop: np.ndarray, mask: np.ndarray, families: Sequence[FeatureFamily]
) -> np.ndarray:
    """Concatenate the families' vectors for one face crop, checking every length."""
    parts = []
    for fam in families:
        v = np.asarray(fam.fn(crop, mask), dtype=np.float32)
        if v.shape != (fam.length,):
            raise ValueError(f"family {fam.name} returned shape {v.shape}, want ({fam.length},)")
        parts.append(v)
    return np.nan_to_num(np.concatenate(parts), nan=0.0, posinf=0.0, neginf=0.0)


def frame_slices(families: Sequence[FeatureFamily]) -> list[slice]:
    out, start = [], 0
    for fam in families:
        out.append(slice(start, start + fam.length))
        start += fam.length
    return out


def video_layout(families: Sequence[FeatureFamily], temporal: bool = True) -> dict[str, list[int]]:
    """Column indices of each family in the video vector (for ablation and explanations)."""
    d = sum(f.length for f in families)
    layout: dict[str, list[int]] = {}
    for fam, sl in zip(families, frame_slices(families), strict=True):
        cols = list(range(sl.start, sl.stop))
        layout[fam.name] = cols + [d + c for c in cols]  # mean then spread
    if temporal:
        base = 2 * d
        layout[TEMPORAL] = list(range(base, base + 2 * len(families)))
    return layout


def video_vector(
    frames: np.ndarray, families: Sequence[FeatureFamily], temporal: bool = True
) -> np.ndarray:
    """Aggregate a (T, D) matrix of frame vectors: mean, spread, then the temporal family."""
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise ValueError(f"want a non-empty (T, D) matrix, got {frames.shape}")
    parts = [frames.mean(axis=0), frames.std(axis=0)]
    if temporal:
        parts.append(temporal_features(frames, frame_slices(families)))
    return np.concatenate(parts).astype(np.float32)


def video_length(families: Sequence[FeatureFamily], temporal: bool = True) -> int:
    d = sum(f.length for f in families)
    return 2 * d + (2 * len(families) if temporal else 0)
