"""Whole-frame degradations of real videos: the low-quality uploads platforms are full of.

Applied to a real clip *and* to its self-blended pseudo-fake alike (blend first, degrade
after, as a swap is made before the upload is recompressed), they teach the classifier that
resolution, blur, compression and colour cast say nothing about a pasted face, and widen
the range of "real" beyond the few cameras of the training set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from common.faces import Detection, jitter_box
from common.types import Face, Frame

# Bump when the ranges below change: cached features of degraded copies are keyed by it.
AUGMENT_VERSION = 2


@dataclass(frozen=True, slots=True)
class Degradation:
    scale: float  # resize factor of the whole frame (< 1: a lower-resolution upload)
    blur_sigma: float
    jpeg_quality: int  # 0 = no recompression
    gamma: float
    gains: tuple[float, float, float]  # BGR colour cast


def draw_degradation(rng: np.random.Generator) -> Degradation:
    """Ordinary upload quality, not wreckage: a face still 64+ px wide, JPEG q >= 40, mild
    blur. Past that no blend is visible to anyone, and such copies only teach the SVM that
    every low-quality video is ambiguous."""
    return Degradation(
        scale=float(rng.choice([1.0, rng.uniform(0.5, 0.9)], p=[0.3, 0.7])),
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.3, 1.0)], p=[0.5, 0.5])),
        jpeg_quality=int(rng.choice([0, int(rng.integers(40, 90))], p=[0.4, 0.6])),
        gamma=float(rng.uniform(0.8, 1.25)),
        gains=tuple(float(g) for g in rng.uniform(0.9, 1.1, size=3)),  # type: ignore[arg-type]
    )


def degrade(image: np.ndarray, d: Degradation) -> np.ndarray:
    out = image
    h, w = out.shape[:2]
    if d.scale < 1.0:
        out = cv2.resize(
            out,
            (max(16, int(w * d.scale)), max(16, int(h * d.scale))),
            interpolation=cv2.INTER_AREA,
        )
    if d.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), d.blur_sigma)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** d.gamma, 0, 255).astype(np.uint8)
    out = cv2.LUT(out, lut)
    out = np.clip(out.astype(np.float32) * np.array(d.gains, np.float32), 0, 255).astype(np.uint8)
    if d.jpeg_quality:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, d.jpeg_quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


class Degrader:
    """A per-clip face transform: degrade the crop (after an optional blend), one recipe per
    clip. Applied to the canonical crop, so ``scale`` acts on the face's own resolution."""

    def __init__(self, seed: int, then: Callable[[Face], Face] | None = None) -> None:
        self.params = draw_degradation(np.random.default_rng(seed))
        self.before = then

    def __call__(self, face: Face) -> Face:
        if self.before is not None:
            face = self.before(face)
        crop = degrade(face.crop, self.params)
        if crop.shape != face.crop.shape:
            crop = cv2.resize(crop, face.crop.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        return replace(face, crop=crop)


@dataclass(frozen=True, slots=True)
class BoxJitter:
    """Per-frame random moves of the face box before its crop is cut, one seed per clip.

    HOG boxes are quantised by the detector's pyramid (one level is a 1.2x size step) and
    its 8 px cells: between consecutive frames of the same face they move by ~7% of the
    side, and a change of window or tracker moves them as much. Scores of a model trained
    on one such draw of boxes swing with the next (FF++ c40 AUC 0.68-0.94 over 6 draws of
    this size, ``bench/crop_jitter.py``, docs/crop_jitter.md). Training on jittered boxes
    teaches the SVM that where the box falls says nothing about a pasted face.
    """

    seed: int
    shift: float  # standard deviation of the centre's move per axis, in face sides
    log_scale: float  # standard deviation of the log of the size change

    def __call__(self, frame: Frame, det: Detection) -> Detection:
        rng = np.random.default_rng([self.seed, frame.index])
        dx, dy = rng.normal(0.0, self.shift, 2)
        k = rng.normal(0.0, self.log_scale)
        return Detection(jitter_box(det.box, (float(dx), float(dy)), float(k)), det.landmarks)
