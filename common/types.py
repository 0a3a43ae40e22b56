"""Typed records passed between the stages of a scan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

import numpy as np

# How a scan reads a video and follows its face: one spelling each for settings, CLI options,
# model bundles, frames and faces.
# "spread": frames spread evenly over the clip; "segments": a few runs of consecutive frames,
# each starting at a keyframe (far fewer pictures decoded; see docs/speed.md).
Sampling = Literal["spread", "segments"]
# "detect": a face detection on every sampled frame; "landmarks": between near-adjacent
# frames the face follows its re-fitted landmarks (common.faces.follow_landmarks), with a
# detection every few frames; "runs": the same through a whole run of near-adjacent frames,
# detecting only at its start, at a cut or where the fit jumps (docs/faces.md); "follow":
# through the whole sample from its first detection, detecting again only at a cut or where
# the fit jumps, with the cheaper whole-frame pass and follow window of docs/speed.md.
Tracking = Literal["detect", "landmarks", "runs", "follow"]
# dlib's HOG detector with 68 landmarks, or OpenCV's Haar cascade (box only).
Detector = Literal["dlib", "haar"]
SAMPLINGS: tuple[Sampling, ...] = get_args(Sampling)
TRACKINGS: tuple[Tracking, ...] = get_args(Tracking)
DETECTORS: tuple[Detector, ...] = get_args(Detector)


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixel coordinates of the frame it was found in."""

    x: int
    y: int
    w: int
    h: int

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    @property
    def area(self) -> int:
        return self.w * self.h

    def scaled(self, factor: float) -> Box:
        return Box(
            int(round(self.x * factor)),
            int(round(self.y * factor)),
            int(round(self.w * factor)),
            int(round(self.h * factor)),
        )


@dataclass(slots=True)
class ClipInfo:
    """What the container says about a clip, filled in by the frame reader that opens it.

    Nothing here feeds a feature: it is what an evaluation needs to tell a shortcut (frame
    size, length, frame rate) from a face-level signal (models.evaluation.nuisance).
    """

    width: int = 0
    height: int = 0
    fps: float = float("nan")  # NaN for images and frame folders (no clock)
    frames: int = 0  # frames the container announces (images in a folder)

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.fps > 0 else float("nan")


@dataclass(slots=True)
class Frame:
    """One decoded frame (BGR uint8) and where it sits in the clip."""

    index: int
    time_s: float
    image: np.ndarray


@dataclass(slots=True)
class Face:
    """A face crop in canonical size with its mask of the inner face.

    ``crop`` is BGR uint8 of shape (S, S, 3) and includes a margin around the face, so the
    blending boundary (where a swapped face is pasted) lies inside it. ``mask`` is float32
    (S, S) in [0, 1]: 1 on the inner face, 0 outside.
    """

    frame_index: int
    box: Box
    crop: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class FaceTrack:
    """The main face over a clip's sampled frames, as arrays: the input of clip families.

    ``crops`` (T, S, S, 3) uint8 BGR and ``masks`` (T, S, S) float32 as in :class:`Face`;
    ``landmarks`` (T, 68, 2) float32 in crop coordinates, NaN for a face found without
    landmarks; ``frame_index`` (T,) int64 in the clip, so frames t and t+1 are consecutive
    in the video when their indices differ by 1.
    """

    crops: np.ndarray
    masks: np.ndarray
    landmarks: np.ndarray
    frame_index: np.ndarray

    @classmethod
    def of(cls, faces: Sequence[Face]) -> FaceTrack:
        if not faces:
            raise ValueError("a face track needs at least one face")
        size = faces[0].crop.shape[0]
        nan = np.full((68, 2), np.nan, np.float32)
        return cls(
            crops=np.stack([f.crop for f in faces]),
            masks=np.stack([f.mask for f in faces]).reshape(len(faces), size, size),
            landmarks=np.stack(
                [nan if f.landmarks is None else f.landmarks.astype(np.float32) for f in faces]
            ),
            frame_index=np.array([f.frame_index for f in faces], np.int64),
        )

    def __len__(self) -> int:
        return len(self.frame_index)


@dataclass(slots=True)
class ScanResult:
    """The outcome of scanning one target: a score or an error, never both missing."""

    target: str
    score: float | None = None
    label: str | None = None
    frames_used: int = 0
    faces_found: int = 0
    seconds: float = 0.0
    error: dict[str, str] | None = None
    model_version: str | None = None
    families: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    content_sha256: str | None = None

    def as_json(self) -> dict[str, object]:
        return asdict(self)
