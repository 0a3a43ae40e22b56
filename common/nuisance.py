"""Nuisance measures of one clip: what a video is like apart from its faces' artifacts.

Face size and position, frame size, bitrate, length, frame rate, frames decoded and faces per
frame. None of them is a feature and none ever feeds a model: an evaluation compares them
between real and fake videos, because a dataset whose classes differ in them can reward a
detector for reading the difference instead of the forgery (models.evaluation.nuisance).

Everything here is already known to the extraction or costs nothing: the reader's
:class:`~common.types.ClipInfo`, the file's size on disk, the face boxes and landmarks.
:data:`VARIABLES` names the per-video variables derived from them (bitrate = bytes /
duration, face size relative to the frame...), with the words a report uses for each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from common.faces.crops import MARGIN
from common.types import ClipInfo, Face

NAN = float("nan")
# 68-point landmarks (iBUG): the two eyes' contours, whose centres give the inter-ocular
# distance, the face size measure least moved by how a detector draws its box.
_EYE_L, _EYE_R = slice(36, 42), slice(42, 48)


@dataclass(frozen=True, slots=True)
class Nuisance:
    """Per-clip measures; NaN where a clip has no such thing (an image has no frame rate).

    Face measures are medians over the sampled frames' main faces. Face positions are the
    box centre as a fraction of the frame's width and height (0.5, 0.5 = centred).
    """

    width: int
    height: int
    fps: float
    frames_total: int  # frames the container announces (images in a folder)
    bytes: int  # the file's size on disk (all images of a frame folder)
    frames_decoded: int  # sampled frames that decoded
    faces: int  # of those, frames with a face
    face_px: float  # face box side, sqrt(w*h), in frame pixels
    iod_px: float  # inter-ocular distance in frame pixels (NaN without landmarks)
    face_x: float
    face_y: float

    @property
    def duration_s(self) -> float:
        return ClipInfo(self.width, self.height, self.fps, self.frames_total).duration_s

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)

    def as_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Nuisance:
        names = {f.name for f in fields(cls)}
        return cls(**{k: (NAN if v is None else v) for k, v in data.items() if k in names})


def media_bytes(path: Path) -> int:
    """Bytes on disk of a video or image file, or of all files in a frame folder (0 when the
    file went away: a nuisance measure never fails a scan)."""
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def inter_ocular_px(face: Face) -> float:
    """Distance between the eye centres in frame pixels, from the crop's landmarks.

    Landmarks live in crop coordinates; the crop spans MARGIN x the box's longer side
    (common.faces.crops.crop_square), so one crop pixel is that span / crop size.
    """
    if face.landmarks is None or len(face.landmarks) < 48:
        return NAN
    lm = np.asarray(face.landmarks, float)
    crop_px = float(np.linalg.norm(lm[_EYE_L].mean(0) - lm[_EYE_R].mean(0)))
    return crop_px * MARGIN * max(face.box.w, face.box.h) / face.crop.shape[0]


def _median(values: Sequence[float]) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else NAN


def measure(
    info: ClipInfo,
    nbytes: int,
    frames_decoded: int,
    frame_shape: tuple[int, ...],
    faces: Sequence[Face],
) -> Nuisance:
    """The clip's nuisance measures from what its extraction saw (``frame_shape``: the first
    decoded picture's, for a reader that could not give the size)."""
    width, height = info.width, info.height
    if frames_decoded and (width <= 0 or height <= 0):  # the reader could not say: the pictures can
        height, width = frame_shape[:2]
    w, h = max(width, 1), max(height, 1)
    return Nuisance(
        width=width,
        height=height,
        fps=info.fps,
        frames_total=info.frames,
        bytes=nbytes,
        frames_decoded=frames_decoded,
        faces=len(faces),
        face_px=_median([math.sqrt(f.box.w * f.box.h) for f in faces]),
        iod_px=_median([inter_ocular_px(f) for f in faces]),
        face_x=_median([f.box.center[0] / w for f in faces]),
        face_y=_median([f.box.center[1] / h for f in faces]),
    )


# --- The variables an evaluation compares (models.evaluation.nuisance) -------------------


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and math.isfinite(a) else NAN


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    family: str  # measures of one thing (face size in pixels and relative): one verdict line
    words: str  # how the report names it
    unit: str  # px, B/s, s, fps, or "" for ratios and counts
    get: Callable[[Nuisance], float]


VARIABLES: tuple[Variable, ...] = (
    Variable("face_px", "face size", "face size (box side, pixels)", "px", lambda n: n.face_px),
    Variable("iod_px", "face size", "inter-ocular distance (pixels)", "px", lambda n: n.iod_px),
    Variable(
        "face_rel",
        "face size",
        "face size relative to the frame (box side / shorter frame side)",
        "",
        lambda n: _ratio(n.face_px, n.short_side),
    ),
    Variable(
        "iod_rel",
        "face size",
        "inter-ocular distance relative to the frame (/ shorter frame side)",
        "",
        lambda n: _ratio(n.iod_px, n.short_side),
    ),
    Variable(
        "face_x",
        "face position",
        "face position across the frame (centre / width)",
        "",
        lambda n: n.face_x,
    ),
    Variable(
        "face_y",
        "face position",
        "face position down the frame (centre / height)",
        "",
        lambda n: n.face_y,
    ),
    Variable("width", "frame size", "frame width", "px", lambda n: float(n.width)),
    Variable("height", "frame size", "frame height", "px", lambda n: float(n.height)),
    Variable(
        "bitrate",
        "bitrate",
        "bitrate (bytes per second)",
        "B/s",
        lambda n: _ratio(n.bytes, n.duration_s),
    ),
    Variable(
        "bytes_per_frame",
        "bitrate",
        "bytes per frame (file size / frames)",
        "B",
        lambda n: _ratio(n.bytes, n.frames_total),
    ),
    Variable("duration_s", "duration", "duration", "s", lambda n: n.duration_s),
    Variable("fps", "frame rate", "frame rate", "fps", lambda n: n.fps),
    Variable(
        "frames_decoded",
        "frames decoded",
        "sampled frames decoded",
        "",
        lambda n: float(n.frames_decoded),
    ),
    Variable(
        "faces_per_frame",
        "faces found",
        "faces found per sampled frame",
        "",
        lambda n: _ratio(n.faces, n.frames_decoded),
    ),
)
WORDS = {v.name: v.words for v in VARIABLES}
UNITS = {v.name: v.unit for v in VARIABLES}
FAMILY = {v.name: v.family for v in VARIABLES}
