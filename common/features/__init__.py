"""Artifact measures: an explicit, ordered, versioned registry of feature families.

Each frame family is one pure function ``(crop, mask) -> 1-D float32 vector`` of fixed length
(crop: (S, S, 3) uint8 BGR face crop with margin; mask: (S, S) float32 inner-face mask). Each
clip family is one pure function ``FaceTrack -> 1-D float32 vector`` over the main face's
crops, masks, landmarks and frame indices (for cues between consecutive frames). A video is
described by the mean and spread of each frame family over its frames, the temporal family
(computed from the frame vectors), then the clip families. No feature sees file size, image
size, codec or other metadata: every input is the canonical crop and its landmarks.

Bump FEATURE_VERSION whenever any family's output changes; model bundles record it and refuse
to score vectors of another version, except where ``UNCHANGED_SINCE`` says that the families a
bundle uses have not changed since its version (a new family was only added).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from common.features.boundary import LENGTH as BOUNDARY_LENGTH
from common.features.boundary import boundary_features
from common.features.colour import LENGTH as COLOUR_LENGTH
from common.features.colour import colour_features
from common.features.flicker import LENGTH as FLICKER_LENGTH
from common.features.flicker import flicker_features
from common.features.iqm import MEASURES, iqm_features
from common.features.landmarks import LENGTH as LANDMARK_LENGTH
from common.features.landmarks import landmark_features
from common.features.spectrum import BINS, spectrum_features
from common.features.surround import LENGTH as SURROUND_LENGTH
from common.features.surround import surround_features
from common.features.temporal import temporal_features
from common.features.texture import NBINS, RADII, texture_features
from common.features.upsampling import LENGTH as UPSAMPLING_LENGTH
from common.features.upsampling import upsampling_features
from common.types import FaceTrack

FEATURE_VERSION = "1.3"
# Versions whose families, listed, still compute exactly what they computed then.
UNCHANGED_SINCE: dict[str, frozenset[str]] = {
    "1.1": frozenset({"frequency", "quality", "boundary", "texture", "temporal"}),
    # 1.3 added the colour and upsampling frame families; every earlier family is as it was.
    "1.2": frozenset(
        {
            *("frequency", "quality", "boundary", "texture", "surround", "temporal"),
            *("flicker", "landmarks"),
        }
    ),
}

FrameFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
ClipFn = Callable[[FaceTrack], np.ndarray]


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
    FeatureFamily("surround", surround_features, SURROUND_LENGTH, "Fridrich & Kodovsky, TIFS 2012"),
    FeatureFamily("colour", colour_features, COLOUR_LENGTH, "McCloskey & Albright, ICIP 2019"),
    FeatureFamily("upsampling", upsampling_features, UPSAMPLING_LENGTH, "Frank et al., ICML 2020"),
)
FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES)
TEMPORAL = "temporal"


@dataclass(frozen=True, slots=True)
class ClipFamily:
    name: str
    fn: ClipFn
    length: int
    reference: str


# Order matters likewise: clip families follow the frame families in every video vector.
CLIP_FAMILIES: tuple[ClipFamily, ...] = (
    ClipFamily("flicker", flicker_features, FLICKER_LENGTH, "Zheng et al., ICCV 2021"),
    ClipFamily("landmarks", landmark_features, LANDMARK_LENGTH, "Sun et al., CVPR 2021"),
)
CLIP_NAMES: tuple[str, ...] = tuple(f.name for f in CLIP_FAMILIES)
ALL_FAMILIES: tuple[str, ...] = (*FAMILY_NAMES, TEMPORAL, *CLIP_NAMES)
# What `dfscan train` measures unless told otherwise (the temporal family is a switch of its own).
# Listed, not derived from the registry: a family added later stays opt-in (`--families`), so
# `scripts/train-default` trains on what it trained on before the family existed.
DEFAULT_FAMILIES: tuple[str, ...] = (
    "frequency",
    "quality",
    "boundary",
    "texture",
    "surround",
    "flicker",
    "landmarks",
)


def _check_names(names: Sequence[str]) -> None:
    unknown = set(names) - set(ALL_FAMILIES)
    if unknown:
        raise ValueError(f"unknown feature families: {sorted(unknown)}")


def select(names: Sequence[str] | None = None) -> tuple[FeatureFamily, ...]:
    """Frame families by name, always in registry order; None = all frame families.

    Clip family names are accepted and left to :func:`select_clips`."""
    if names is None:
        return FAMILIES
    _check_names(names)
    return tuple(f for f in FAMILIES if f.name in names)


def select_clips(names: Sequence[str]) -> tuple[ClipFamily, ...]:
    """Clip families by name, in registry order (frame family names are ignored)."""
    _check_names(names)
    return tuple(f for f in CLIP_FAMILIES if f.name in names)


def compatible(version: str | None, names: Sequence[str]) -> bool:
    """Whether vectors of ``names`` computed now equal those of feature ``version``."""
    if version == FEATURE_VERSION:
        return True
    return version in UNCHANGED_SINCE and set(names) <= UNCHANGED_SINCE[version]


Family = FeatureFamily | ClipFamily


def _joined(families: Sequence[Family], values: Iterable[np.ndarray]) -> np.ndarray:
    """Concatenate the families' vectors, checking every length; non-finite values become 0."""
    parts = [np.zeros(0, np.float32)]
    for fam, value in zip(families, values, strict=True):
        v = np.asarray(value, dtype=np.float32)
        if v.shape != (fam.length,):
            raise ValueError(f"family {fam.name} returned shape {v.shape}, want ({fam.length},)")
        parts.append(v)
    return np.nan_to_num(np.concatenate(parts), nan=0.0, posinf=0.0, neginf=0.0)


def frame_vector(
    crop: np.ndarray, mask: np.ndarray, families: Sequence[FeatureFamily]
) -> np.ndarray:
    """Concatenate the frame families' vectors for one face crop, checking every length."""
    return _joined(families, (fam.fn(crop, mask) for fam in families))


def clip_vector(track: FaceTrack, clips: Sequence[ClipFamily]) -> np.ndarray:
    """Concatenate the clip families' vectors for one face track, checking every length."""
    return _joined(clips, (fam.fn(track) for fam in clips))


def slices(families: Sequence[Family]) -> list[slice]:
    """Each family's columns in the concatenation of ``families``' vectors."""
    out, start = [], 0
    for fam in families:
        out.append(slice(start, start + fam.length))
        start += fam.length
    return out


frame_slices = clip_slices = slices


def video_layout(
    families: Sequence[FeatureFamily],
    temporal: bool = True,
    clips: Sequence[ClipFamily] = (),
    *,
    spread: bool = True,
) -> dict[str, list[int]]:
    """Column indices of each family in the video vector (for ablation and explanations)."""
    d = sum(f.length for f in families)
    layout: dict[str, list[int]] = {}
    for fam, sl in zip(families, frame_slices(families), strict=True):
        cols = list(range(sl.start, sl.stop))
        layout[fam.name] = cols + ([d + c for c in cols] if spread else [])  # mean, spread
    base = 2 * d if spread else d
    if temporal:
        layout[TEMPORAL] = list(range(base, base + 2 * len(families)))
        base += 2 * len(families)
    for fam, sl in zip(clips, clip_slices(clips), strict=True):
        layout[fam.name] = list(range(base + sl.start, base + sl.stop))
    return layout


def video_vector(
    frames: np.ndarray,
    families: Sequence[FeatureFamily],
    temporal: bool = True,
    clip: np.ndarray | None = None,
    *,
    spread: bool = True,
) -> np.ndarray:
    """Aggregate a (T, D) matrix of frame vectors: mean, spread (unless ``spread`` is off:
    frame families by their mean alone), the temporal family, then the clip families'
    vector ``clip`` (from :func:`clip_vector`) when given."""
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise ValueError(f"want a non-empty (T, D) matrix, got {frames.shape}")
    parts = [frames.mean(axis=0), *([frames.std(axis=0)] if spread else [])]
    if temporal:
        parts.append(temporal_features(frames, frame_slices(families)))
    if clip is not None:
        parts.append(np.asarray(clip, np.float32))
    return np.concatenate(parts).astype(np.float32)


def video_length(
    families: Sequence[FeatureFamily],
    temporal: bool = True,
    clips: Sequence[ClipFamily] = (),
    *,
    spread: bool = True,
) -> int:
    d = sum(f.length for f in families)
    frame_part = 2 * d if spread else d
    return frame_part + (2 * len(families) if temporal else 0) + sum(f.length for f in clips)
