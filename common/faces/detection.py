"""Face detection: one detector interface, two offline backends, detection at a chosen scale.

:class:`FaceDetector` has two backends: OpenCV's Haar cascade (fast, box only) and dlib's HOG
detector with the 68-point landmark model (sharper face masks from the landmark hull).
Detection runs on a downscaled copy of the frame (or of a window around the last face); the
crop is cut from the full-resolution frame, so small faces keep their detail. The sizes below
were measured on the research clips: docs/faces.md.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from common.types import Box, Detector

# Whole-frame detection on a copy at most this wide/high; a miss retries at RETRY_MAX_SIDE
# (small faces in wide shots).
DETECT_MAX_SIDE = 480
RETRY_MAX_SIDE = 960
# A clip where those find no face at all is searched again on frames scaled so that a face
# of SMALL_FACE_PX in the frame is the detector's smallest (dlib 80 px: 2x; Haar 40 px: full
# resolution), at most SMALL_MAX_SIDE on the long side: wide shots, walking scenes, a grid
# of video-call tiles.
SMALL_FACE_PX = 40
SMALL_MAX_SIDE = 3840
# Tracking window: TRACK_WINDOW x the previous face's side around it, scaled so the face is
# TRACK_FACE_PX wide (dlib's HOG template is 80 px; Haar's smallest face 40 px).
TRACK_WINDOW = 2.2
TRACK_FACE_PX = 112


@dataclass(slots=True)
class Detection:
    box: Box
    landmarks: np.ndarray | None = None  # (68, 2) float32, frame coordinates


class FaceDetector(Protocol):
    name: str
    min_face: int  # the smallest face side it finds, in pixels of the image it is given

    def detect(self, gray: np.ndarray) -> list[Detection]:
        """Faces in a grayscale uint8 image, in that image's pixel coordinates."""
        ...


class HaarDetector:
    """Viola-Jones frontal face cascade shipped with OpenCV (``cv2.data``)."""

    name = "haar"

    def __init__(self, min_size: int = 40) -> None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"cannot load Haar cascade from {path}")
        self._min = self.min_face = min_size

    def detect(self, gray: np.ndarray) -> list[Detection]:
        boxes = self._cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self._min, self._min)
        )
        return [Detection(Box(int(x), int(y), int(w), int(h))) for x, y, w, h in boxes]


def _dlib_model_path(name: str) -> Path:
    # Located without importing face_recognition_models (its __init__ needs pkg_resources).
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / name


class DlibDetector:
    """dlib HOG+SVM frontal detector (Dalal & Triggs 2005) with 68 landmarks (Kazemi 2014)."""

    name = "dlib"
    min_face = 80  # the HOG template's side

    def __init__(self, landmarks: bool = True) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._predictor = (
            dlib.shape_predictor(str(_dlib_model_path("shape_predictor_68_face_landmarks.dat")))
            if landmarks
            else None
        )

    def detect(self, gray: np.ndarray) -> list[Detection]:
        out = []
        for r in self._detector(gray, 0):
            box = Box(r.left(), r.top(), r.width(), r.height())
            pts = None
            if self._predictor is not None:
                shape = self._predictor(gray, r)
                pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            out.append(Detection(box, pts))
        return out

    def landmarks_at(self, gray: np.ndarray, box: Box) -> np.ndarray | None:
        """The 68 landmarks fitted from ``box`` (no detection pass), in ``gray``'s coordinates."""
        if self._predictor is None:
            return None
        import dlib

        rect = dlib.rectangle(box.x, box.y, box.x + box.w, box.y + box.h)
        shape = self._predictor(gray, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


@lru_cache(maxsize=4)
def make_detector(name: Detector) -> FaceDetector:
    """Detectors are built once per process (the landmark model is ~100 MB)."""
    if name == "haar":
        return HaarDetector()
    if name == "dlib":
        return DlibDetector()
    raise ValueError(f"unknown face detector {name!r} (haar | dlib)")


def _detect_scaled(
    detector: FaceDetector, gray: np.ndarray, scale: float, offset: tuple[int, int] = (0, 0)
) -> list[Detection]:
    """Detect on ``gray`` resized by ``scale``; map back to frame coordinates (+ offset)."""
    if scale != 1:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interp)
    else:
        small = gray
    found = detector.detect(small)
    inv = 1.0 / scale
    ox, oy = offset
    out = []
    for d in found:
        b = d.box.scaled(inv)
        lm = None if d.landmarks is None else d.landmarks * inv + np.float32([ox, oy])
        out.append(Detection(Box(b.x + ox, b.y + oy, b.w, b.h), lm))
    return out


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grey uint8 of a BGR image (a grey one as is)."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def detect_faces(
    detector: FaceDetector, image: np.ndarray, max_side: int = DETECT_MAX_SIDE
) -> list[Detection]:
    """Detect on a copy downscaled to at most ``max_side``; map back to full resolution."""
    gray = to_gray(image)
    return _detect_scaled(detector, gray, min(1.0, max_side / max(gray.shape[:2])))


def detect_small(detector: FaceDetector, image: np.ndarray) -> list[Detection]:
    """Detect on a copy scaled so that a SMALL_FACE_PX face is the detector's smallest
    (capped at SMALL_MAX_SIDE): faces down to ~40 px.

    For dlib that is 2x, about 4x the cost of a full-resolution pass (~0.5 s for a 1080p
    frame), so it runs only where the usual passes found nothing (common.faces.tracking).
    """
    gray = to_gray(image)
    scale = min(detector.min_face / SMALL_FACE_PX, SMALL_MAX_SIDE / max(gray.shape[:2]))
    return _detect_scaled(detector, gray, scale)


def detect_near(detector: FaceDetector, image: np.ndarray, previous: Box) -> list[Detection]:
    """Faces in a window around ``previous``, at the scale that makes it TRACK_FACE_PX wide.

    A window of about 5x the face's area instead of the whole frame, at a scale set by the
    face rather than the frame: much cheaper for large faces, and sharper for small ones.
    """
    h, w = image.shape[:2]
    side = max(previous.w, previous.h, 1)
    cx, cy = previous.center
    half = TRACK_WINDOW * side / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(w, int(cx + half)), min(h, int(cy + half))
    if x1 - x0 < side // 2 or y1 - y0 < side // 2:
        return []
    gray = to_gray(image[y0:y1, x0:x1])
    return _detect_scaled(detector, gray, TRACK_FACE_PX / side, (x0, y0))
