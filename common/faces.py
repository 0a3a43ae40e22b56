"""Face detection, main-face selection across frames, and canonical crops with a face mask.

One detector interface (:class:`FaceDetector`) with two offline backends: OpenCV's Haar
cascade (fast, box only) and dlib's HOG detector with the 68-point landmark model (sharper
face masks from the landmark hull). Detection runs on a downscaled copy of the frame; the crop
is cut from the full-resolution frame, so small faces keep their detail.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from common.types import TRACKINGS, Box, Face, Frame, Tracking

# Crop margin: the crop spans MARGIN x the face box, so the blend boundary of a swapped face
# (at or just outside the detector box) lies well inside the crop with context around it.
MARGIN = 1.6
DETECT_MAX_SIDE = 480
# Tracking: after a face is found, the next sampled frame is searched only in a window of
# TRACK_WINDOW x the previous face's side around it, scaled so the face is TRACK_FACE_PX
# wide (dlib's HOG template is 80 px; Haar's smallest face 40 px). A miss falls back to the
# full-frame detection, then to one at RETRY_MAX_SIDE (small faces in wide shots).
TRACK_WINDOW = 2.2
TRACK_FACE_PX = 112
RETRY_MAX_SIDE = 960
# Landmark following ("landmarks" tracking): between near-adjacent frames (at most
# FOLLOW_MAX_GAP frames apart) the face is moved by re-fitting its landmarks from the previous
# box instead of a detection pass; a detection runs again after FOLLOW_STEPS such frames, and
# whenever the re-fit moves or rescales the face more than a face can in that time.
FOLLOW_MAX_GAP = 2
FOLLOW_STEPS = 3
FOLLOW_MAX_SHIFT = 0.25  # of the face's side
FOLLOW_MAX_SCALE = 1.15
# A followed face must still look like the last one: normalised correlation of the grey
# thumbnails of the two face boxes (a cut to another shot measured 0.33 on the pristine clips,
# real motion between near-adjacent frames 0.62 and up, median 0.99).
FOLLOW_THUMB = 24
FOLLOW_MIN_NCC = 0.5


@dataclass(slots=True)
class Detection:
    box: Box
    landmarks: np.ndarray | None = None  # (68, 2) float32, frame coordinates


class FaceDetector(Protocol):
    name: str

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
        self._min = min_size

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
def make_detector(name: str) -> FaceDetector:
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


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def detect_faces(
    detector: FaceDetector, image: np.ndarray, max_side: int = DETECT_MAX_SIDE
) -> list[Detection]:
    """Detect on a copy downscaled to at most ``max_side``; map back to full resolution."""
    gray = _gray(image)
    return _detect_scaled(detector, gray, min(1.0, max_side / max(gray.shape[:2])))


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
    gray = _gray(image[y0:y1, x0:x1])
    return _detect_scaled(detector, gray, TRACK_FACE_PX / side, (x0, y0))


def _spread(points: np.ndarray) -> float:
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def crop_thumb(crop: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm FOLLOW_THUMB^2 grey thumbnail of the face box inside its crop."""
    inner = int(round(crop.shape[0] / MARGIN))
    off = (crop.shape[0] - inner) // 2
    small = cv2.resize(
        _gray(crop[off : off + inner, off : off + inner]),
        (FOLLOW_THUMB, FOLLOW_THUMB),
        interpolation=cv2.INTER_AREA,
    )
    t = small.astype(np.float32).ravel()
    t -= t.mean()
    return t / max(float(np.linalg.norm(t)), 1e-6)


def follow_landmarks(
    detector: FaceDetector, image: np.ndarray, previous: Detection
) -> Detection | None:
    """The previous face moved to this frame by re-fitting its landmarks, or None.

    Kazemi & Sullivan's regression cascade (CVPR 2014) starts from a box and converges when
    the face moved little since: ~2 ms against ~7.5 ms for a HOG pass in the tracking window.
    It runs, like :func:`detect_near`, on a grey window scaled so the face is TRACK_FACE_PX
    wide. The box follows the landmarks' centroid and spread. None (detect instead) when the
    detector has no landmarks or the re-fit moved or rescaled the face more than a face
    moves in a frame or two.
    """
    refit = getattr(detector, "landmarks_at", None)
    if refit is None or previous.landmarks is None:
        return None
    box = previous.box
    h, w = image.shape[:2]
    side = max(box.w, box.h, 1)
    # The predictor reads pixels in and just around the box: a window of twice its side.
    x0, y0 = max(0, box.x - box.w // 2), max(0, box.y - box.h // 2)
    x1, y1 = min(w, box.x + box.w + box.w // 2), min(h, box.y + box.h + box.h // 2)
    if x1 - x0 < box.w // 2 or y1 - y0 < box.h // 2:
        return None
    k = TRACK_FACE_PX / side
    gray = _gray(image[y0:y1, x0:x1])
    if k < 1:
        gray = cv2.resize(gray, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    else:
        k = 1.0
    lm = refit(gray, Box(box.x - x0, box.y - y0, box.w, box.h).scaled(k))
    if lm is None:
        return None
    lm = lm / np.float32(k) + np.float32([x0, y0])
    shift = lm.mean(axis=0) - previous.landmarks.mean(axis=0)
    scale = _spread(lm) / max(_spread(previous.landmarks), 1e-6)
    if np.hypot(*shift) > FOLLOW_MAX_SHIFT * side or not (
        1 / FOLLOW_MAX_SCALE <= scale <= FOLLOW_MAX_SCALE
    ):
        return None
    cx, cy = box.center
    nw, nh = box.w * scale, box.h * scale
    moved = Box(
        int(round(cx + shift[0] - nw / 2)), int(round(cy + shift[1] - nh / 2)), int(nw), int(nh)
    )
    return Detection(moved, lm)


def pick_main(found: Sequence[Detection], previous: Box | None) -> Detection | None:
    """The face nearest the previous main face (same person across frames), else the largest."""
    if not found:
        return None
    if previous is None:
        return max(found, key=lambda d: d.box.area)
    px, py = previous.center
    scale = max(previous.w, previous.h)

    def cost(d: Detection) -> float:
        cx, cy = d.box.center
        # Distance in face widths, plus a penalty for a very different size.
        return np.hypot(cx - px, cy - py) / scale + abs(
            np.log(max(d.box.w, 1) / max(previous.w, 1))
        )

    best = min(found, key=cost)
    return best if cost(best) < 1.5 else max(found, key=lambda d: d.box.area)


def crop_square(
    image: np.ndarray, box: Box, size: int, margin: float = MARGIN
) -> tuple[np.ndarray, np.ndarray]:
    """Crop a square of side margin*max(w,h) centred on the box, resized to size x size.

    Returns the crop and the 2x3 affine that maps frame coordinates into crop coordinates.
    Out-of-frame parts are filled by edge replication, so faces at the border still work.
    """
    cx, cy = box.center
    side = margin * max(box.w, box.h)
    s = size / side
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], dtype=np.float32)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return crop, m


# Landmark hull for the inner face: jaw line (0-16) and brows (17-26), brows lifted a little.
_HULL = list(range(17)) + list(range(26, 16, -1))


def face_mask(size: int, box_in_crop: Box, landmarks_in_crop: np.ndarray | None) -> np.ndarray:
    """Float32 (size, size) mask, 1 on the inner face: landmark hull, else an ellipse in the box."""
    mask = np.zeros((size, size), np.uint8)
    if landmarks_in_crop is not None:
        pts = landmarks_in_crop[_HULL].copy()
        brow_lift = 0.08 * box_in_crop.h
        pts[17:, 1] -= brow_lift
        cv2.fillConvexPoly(mask, cv2.convexHull(pts.astype(np.int32)), 1)
    else:
        cx, cy = box_in_crop.center
        # Haar boxes run from brows to chin and are wider than the face: an ellipse inside.
        axes = (int(box_in_crop.w * 0.40), int(box_in_crop.h * 0.50))
        cv2.ellipse(mask, (int(cx), int(cy + 0.05 * box_in_crop.h)), axes, 0, 0, 360, 1, -1)
    return mask.astype(np.float32)


def _map_points(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


# Edits a detection before its crop is cut (training-time box jitter, models.augment); the
# tracker keeps following the unedited detection.
Reframe = Callable[[Frame, Detection], Detection]


def jitter_box(box: Box, shift: tuple[float, float], log_scale: float) -> Box:
    """``box`` moved by ``shift`` (fractions of its larger side) and rescaled by
    exp(``log_scale``) about its centre."""
    side = max(box.w, box.h)
    k = float(np.exp(log_scale))
    w, h = box.w * k, box.h * k
    cx, cy = box.center
    cx, cy = cx + shift[0] * side, cy + shift[1] * side
    return Box(int(round(cx - w / 2)), int(round(cy - h / 2)), max(1, int(w)), max(1, int(h)))


def make_face(frame: Frame, det: Detection, size: int) -> Face:
    crop, m = crop_square(frame.image, det.box, size)
    s = float(m[0, 0])
    x0, y0 = _map_points(m, np.array([[det.box.x, det.box.y]], np.float32))[0]
    box_c = Box(int(x0), int(y0), int(det.box.w * s), int(det.box.h * s))
    lm = None if det.landmarks is None else _map_points(m, det.landmarks)
    return Face(frame.index, det.box, crop, face_mask(size, box_c, lm), lm)


def _detect_main(
    detector: FaceDetector, image: np.ndarray, previous: Box | None, retry: bool
) -> Detection | None:
    """Tracking window first, then the whole frame, then (if ``retry``) at RETRY_MAX_SIDE."""
    det = None
    if previous is not None:
        det = pick_main(detect_near(detector, image, previous), previous)
    if det is None:
        det = pick_main(detect_faces(detector, image), previous)
    if det is None and retry and max(image.shape[:2]) > DETECT_MAX_SIDE:
        det = pick_main(detect_faces(detector, image, RETRY_MAX_SIDE), previous)
    return det


def track_faces(
    frames: Sequence[Frame] | object,
    detector: FaceDetector,
    size: int,
    tracking: Tracking = "detect",
    reframe: Reframe | None = None,
) -> list[Face]:
    """Main face of each frame that has one, following the same person across frames.

    The first face is found on the whole (downscaled) frame; later frames search a window
    around the previous face first (see :func:`detect_near`), and the whole frame only when
    that misses. With ``tracking="landmarks"``, a frame at most FOLLOW_MAX_GAP after the
    previous face's frame gets that face moved by :func:`follow_landmarks` instead, up to
    FOLLOW_STEPS frames in a row. ``reframe`` edits each detection before its crop is cut.
    """

    def cut(frame: Frame, det: Detection) -> Face:
        return make_face(frame, reframe(frame, det) if reframe else det, size)

    if tracking not in TRACKINGS:
        raise ValueError(f"unknown tracking {tracking!r} ({' | '.join(TRACKINGS)})")
    faces: list[Face] = []
    last: Detection | None = None
    last_thumb: np.ndarray | None = None  # of the last face's crop, kept for the cut check
    last_index, followed = -(10**9), 0
    retries = 2  # larger full-frame retries that may still fail before giving up on them
    for frame in frames:  # type: ignore[attr-defined]
        face, now_thumb = None, None
        if (
            tracking == "landmarks"
            and last is not None
            and followed < FOLLOW_STEPS
            and 0 < frame.index - last_index <= FOLLOW_MAX_GAP
        ):
            det = follow_landmarks(detector, frame.image, last)
            face = None if det is None else cut(frame, det)
            if face is not None:
                now_thumb = crop_thumb(face.crop)
                if float(now_thumb @ last_thumb) < FOLLOW_MIN_NCC:
                    face = None  # the face no longer looks like the last one: a cut, detect
        followed = followed + 1 if face is not None else 0
        if face is None:
            det = _detect_main(detector, frame.image, last.box if last else None, retries > 0)
            if det is None:
                retries -= max(frame.image.shape[:2]) > DETECT_MAX_SIDE
                continue
            face, now_thumb = cut(frame, det), None
        if tracking == "landmarks":
            last_thumb = now_thumb if now_thumb is not None else crop_thumb(face.crop)
        last, last_index = det, frame.index
        faces.append(face)
    return faces


# --- Shortcut control: the same measures on a region with no face -------------------------

MIN_BACKGROUND_SIDE = 16  # px: smaller free corners are no usable backdrop


def _free_square(width: int, height: int, avoid: Box, side: int) -> tuple[int, int, int] | None:
    """Largest square (x, y, s), s <= side, in a frame corner that does not overlap ``avoid``.

    Corners are tried top-left, top-right, bottom-left, bottom-right (backdrop is most often
    above and beside a head); the largest wins, ties go to the earlier corner.
    """
    x0, y0 = max(avoid.x, 0), max(avoid.y, 0)
    x1, y1 = min(avoid.x + avoid.w, width), min(avoid.y + avoid.h, height)
    cap = min(side, width, height)
    # For each corner: the square is clear of the box if it ends before the box on one axis.
    corners = (
        (max(x0, y0), lambda s: (0, 0)),
        (max(width - x1, y0), lambda s: (width - s, 0)),
        (max(x0, height - y1), lambda s: (0, height - s)),
        (max(width - x1, height - y1), lambda s: (width - s, height - s)),
    )
    best: tuple[int, int, int] | None = None
    for free, place in corners:
        s = min(int(free), cap)
        if s >= MIN_BACKGROUND_SIDE and (best is None or s > best[2]):
            x, y = place(s)
            best = (x, y, s)
    return best


def _grown(box: Box, factor: float) -> Box:
    cx, cy = box.center
    x0, y0 = int(np.floor(cx - box.w * factor / 2)), int(np.floor(cy - box.h * factor / 2))
    x1, y1 = int(np.ceil(cx + box.w * factor / 2)), int(np.ceil(cy + box.h * factor / 2))
    return Box(x0, y0, x1 - x0, y1 - y0)


def _union(boxes: Sequence[Box]) -> Box:
    x0 = min(b.x for b in boxes)
    y0 = min(b.y for b in boxes)
    x1 = max(b.x + b.w for b in boxes)
    y1 = max(b.y + b.h for b in boxes)
    return Box(x0, y0, x1 - x0, y1 - y0)


def background_faces(
    frames: Sequence[Frame], faces: Sequence[Face], size: int, *, grow: float = 1.25
) -> list[Face]:
    """Each detected face replaced by a same-size crop of a no-face area of its frame.

    The patch is a square of the face crop's side (smaller if the frame has no such free
    corner) in a frame corner clear of the face box grown by ``grow`` (hair, ears); one
    position for the whole clip when the union of its face boxes allows it, so the temporal
    family sees a steady region. The crop is resized to ``size`` like a face crop and carries
    a synthetic ellipse mask of the face mask's relative size, so region-based families
    (inside / boundary / outside) measure the same geometry on backdrop. ``Face.box`` is the
    patch in frame coordinates. Faces whose frame has no usable free corner are dropped.
    """
    by_index = {f.index: f for f in frames}
    pairs = [(by_index[f.frame_index], f) for f in faces if f.frame_index in by_index]
    if not pairs:
        return []
    # The canonical face crop: box of side size/MARGIN centred in the crop.
    inner = int(round(size / MARGIN))
    off = (size - inner) // 2
    mask = face_mask(size, Box(off, off, inner, inner), None)
    h, w = pairs[0][0].image.shape[:2]
    side = int(MARGIN * max(max(f.box.w, f.box.h) for _, f in pairs))
    fixed = _free_square(w, h, _grown(_union([f.box for _, f in pairs]), grow), side)
    out = []
    for frame, face in pairs:
        fh, fw = frame.image.shape[:2]
        spot = fixed if (fw, fh) == (w, h) else None
        if spot is None:
            spot = _free_square(
                fw, fh, _grown(face.box, grow), int(MARGIN * max(face.box.w, face.box.h))
            )
        if spot is None:
            continue
        x, y, s = spot
        patch = frame.image[y : y + s, x : x + s]
        interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
        crop = cv2.resize(patch, (size, size), interpolation=interp)
        out.append(Face(face.frame_index, Box(x, y, s, s), crop, mask.copy(), None))
    return out
