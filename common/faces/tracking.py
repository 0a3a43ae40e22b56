"""Following the main face across sampled frames: by detection, or by its landmarks.

:func:`track_faces` finds the first face on the whole (downscaled) frame and then searches
a window around the previous face (:func:`common.faces.detection.detect_near`); with
``tracking="landmarks"`` or ``"runs"`` a near-adjacent frame gets the previous face moved
by re-fitting its landmarks (:func:`follow_landmarks`) instead. The thresholds were measured
on the research clips: docs/faces.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from common.faces.crops import MARGIN, make_face
from common.faces.detection import (
    DETECT_MAX_SIDE,
    RETRY_MAX_SIDE,
    TRACK_FACE_PX,
    Detection,
    FaceDetector,
    detect_faces,
    detect_near,
    detect_small,
    to_gray,
)
from common.types import TRACKINGS, Box, Face, Frame, Tracking

# Landmark following: between frames at most FOLLOW_MAX_GAP apart the face is moved by
# re-fitting its landmarks; a detection runs again after FOLLOW_STEPS such frames
# (``tracking="landmarks"``; ``"runs"`` has no such limit: a detection starts each run), and
# whenever the re-fit moves or rescales the face more than a face can in that time.
# ``"follow"`` has neither limit: the face is followed from the sample's first detection
# across the gaps between runs too, the checks below catching a cut or a jump.
FOLLOW_MAX_GAP = 2
FOLLOW_STEPS = 3
STEPS: dict[Tracking, float] = {
    "detect": 0,
    "landmarks": FOLLOW_STEPS,
    "runs": float("inf"),
    "follow": float("inf"),
}
GAPS: dict[Tracking, float] = {t: FOLLOW_MAX_GAP for t in STEPS} | {"follow": float("inf")}
# "follow" is the cheaper face stage of docs/speed.md: whole-frame detection on a copy at most
# FOLLOW_DETECT_MAX_SIDE (HOG costs about its pixels; talking heads are large), and the follow
# window scaled by linear interpolation rather than by area (~3x cheaper at these ratios).
FOLLOW_DETECT_MAX_SIDE = 360
FOLLOW_MAX_SHIFT = 0.25  # of the face's side
FOLLOW_MAX_SCALE = 1.15
# A followed face must still look like the last one: normalised correlation of the grey
# FOLLOW_THUMB^2 thumbnails of the two face boxes; below FOLLOW_MIN_NCC it is a cut to
# another shot (docs/faces.md has the measured correlations).
FOLLOW_THUMB = 24
FOLLOW_MIN_NCC = 0.5
# The small-face pass (track_faces(small=True)) gives up enlarged whole-frame searches after
# this many misses: a clip with no face at all costs at most that many (~0.5 s each at 1080p).
SMALL_TRIES = 4
# In that pass, faces at least this share of the largest one's area count as equally large,
# and the most central of them is the main face (a grid of video-call tiles, a crowd).
NEAR_LARGEST = 0.7

# Edits a detection before its crop is cut (training-time box jitter, models.augment); the
# tracker keeps following the unedited detection.
Reframe = Callable[[Frame, Detection], Detection]


def _spread(points: np.ndarray) -> float:
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def crop_thumb(crop: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm FOLLOW_THUMB^2 grey thumbnail of the face box inside its crop."""
    inner = int(round(crop.shape[0] / MARGIN))
    off = (crop.shape[0] - inner) // 2
    small = cv2.resize(
        to_gray(crop[off : off + inner, off : off + inner]),
        (FOLLOW_THUMB, FOLLOW_THUMB),
        interpolation=cv2.INTER_AREA,
    )
    t = small.astype(np.float32).ravel()
    t -= t.mean()
    return t / max(float(np.linalg.norm(t)), 1e-6)


def follow_landmarks(
    detector: FaceDetector,
    image: np.ndarray,
    previous: Detection,
    anchor: Detection | None = None,
    interpolation: int = cv2.INTER_AREA,
) -> Detection | None:
    """The previous face moved to this frame by re-fitting its landmarks, or None.

    Kazemi & Sullivan's regression cascade (CVPR 2014) starts from a box and converges when
    the face moved little since, at a fraction of a HOG pass's cost (docs/faces.md).
    It runs, like :func:`detect_near`, on a grey window scaled so the face is TRACK_FACE_PX
    wide. The box follows the landmarks' centroid and spread: from ``previous`` box, or with
    ``anchor`` (the detection a run of followed frames started from) from that detection's
    box, so that the rounding of many followed boxes in a row does not add up. None (detect
    instead) when the detector has no landmarks or the re-fit moved or rescaled the face more
    than a face moves in a frame or two. ``interpolation`` scales the window down.
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
    gray = to_gray(image[y0:y1, x0:x1])
    if k < 1:
        gray = cv2.resize(gray, None, fx=k, fy=k, interpolation=interpolation)
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
    if anchor is not None and anchor.landmarks is not None:
        box = anchor.box
        shift = lm.mean(axis=0) - anchor.landmarks.mean(axis=0)
        scale = _spread(lm) / max(_spread(anchor.landmarks), 1e-6)
    cx, cy = box.center
    nw, nh = box.w * scale, box.h * scale
    moved = Box(
        int(round(cx + shift[0] - nw / 2)), int(round(cy + shift[1] - nh / 2)), int(nw), int(nh)
    )
    return Detection(moved, lm)


def pick_main(
    found: Sequence[Detection],
    previous: Box | None,
    frame_shape: tuple[int, ...] | None = None,
) -> Detection | None:
    """The face nearest the previous main face (same person across frames), else the largest.

    With ``frame_shape`` (the small-face pass, where many similar faces are the rule), the
    largest is the most central of the faces at least NEAR_LARGEST of its area. The first
    pass keeps the plain largest, so that clips it scans keep their scores.
    """
    if not found:
        return None
    largest = max(found, key=lambda d: d.box.area)
    if frame_shape is not None:
        cy, cx = frame_shape[0] / 2, frame_shape[1] / 2
        near = [d for d in found if d.box.area >= NEAR_LARGEST * largest.box.area]
        largest = min(near, key=lambda d: np.hypot(d.box.center[0] - cx, d.box.center[1] - cy))
    if previous is None:
        return largest
    px, py = previous.center
    scale = max(previous.w, previous.h)

    def cost(d: Detection) -> float:
        cx, cy = d.box.center
        # Distance in face widths, plus a penalty for a very different size.
        return np.hypot(cx - px, cy - py) / scale + abs(
            np.log(max(d.box.w, 1) / max(previous.w, 1))
        )

    best = min(found, key=cost)
    return best if cost(best) < 1.5 else largest


def _detect_main(
    detector: FaceDetector,
    image: np.ndarray,
    previous: Box | None,
    retry: bool,
    max_side: int = DETECT_MAX_SIDE,
) -> Detection | None:
    """Tracking window first, then the whole frame (a copy at most ``max_side``), then (if
    ``retry``) at RETRY_MAX_SIDE."""
    det = None
    if previous is not None:
        det = pick_main(detect_near(detector, image, previous), previous)
    if det is None:
        det = pick_main(detect_faces(detector, image, max_side), previous)
    if det is None and retry and max(image.shape[:2]) > max_side:
        det = pick_main(detect_faces(detector, image, RETRY_MAX_SIDE), previous)
    return det


def _detect_small(
    detector: FaceDetector, image: np.ndarray, previous: Box | None, retry: bool
) -> Detection | None:
    """The small-face pass: tracking window first, then (if ``retry``) the enlarged frame.

    The whole-frame passes of :func:`_detect_main` are not repeated: this pass runs only
    on frames where they found nothing, and the enlarged search finds large faces too.
    """
    det = None
    if previous is not None:
        det = pick_main(detect_near(detector, image, previous), previous, image.shape)
    if det is None and retry:
        det = pick_main(detect_small(detector, image), previous, image.shape)
    return det


def track_faces(frames: Iterable[Frame], *args: Any, **kwargs: Any) -> list[Face]:
    """Main face of each frame that has one: :func:`iter_faces` (same arguments) as a list."""
    return list(iter_faces(frames, *args, **kwargs))


def iter_faces(
    frames: Iterable[Frame],
    detector: FaceDetector,
    size: int,
    tracking: Tracking = "detect",
    reframe: Reframe | None = None,
    *,
    small: bool = False,
) -> Iterator[Face]:
    """Main face of each frame that has one, following the same person across frames.

    Frames are read one at a time and each face is yielded as soon as it is cut, so a
    caller that streams decoded frames in holds one picture at a time, not the sample
    (the tracker keeps only the last detection and a thumbnail of its crop).

    The first face is found on the whole (downscaled) frame; later frames search a window
    around the previous face first (see :func:`detect_near`), and the whole frame only when
    that misses. With ``tracking="landmarks"``, a frame at most FOLLOW_MAX_GAP after the
    previous face's frame gets that face moved by :func:`follow_landmarks` instead, up to
    FOLLOW_STEPS frames in a row; with ``tracking="runs"``, any number in a row (a run of
    consecutive frames is followed from the detection at its start); with
    ``tracking="follow"``, every frame after the first face, whatever the gap, with the whole
    frame searched at FOLLOW_DETECT_MAX_SIDE and the follow window scaled linearly. A re-fit
    that jumps or whose face no longer looks like the last one (a cut) is replaced by a
    detection.
    ``reframe`` edits each detection before its crop is cut.

    ``small=True`` is the second pass, for frames where the first found no face at all:
    whole frames are searched enlarged (:func:`detect_small`, faces down to ~40 px) until
    SMALL_TRIES of those searches missed, and among equally large faces the most central is
    the main one (:func:`pick_main`).
    """

    def cut(frame: Frame, det: Detection) -> Face:
        return make_face(frame, reframe(frame, det) if reframe else det, size)

    if tracking not in TRACKINGS:
        raise ValueError(f"unknown tracking {tracking!r} ({' | '.join(TRACKINGS)})")
    steps, gap = STEPS[tracking], GAPS[tracking]
    cheap = tracking == "follow"
    max_side = FOLLOW_DETECT_MAX_SIDE if cheap else DETECT_MAX_SIDE
    interpolation = cv2.INTER_LINEAR if cheap else cv2.INTER_AREA
    last: Detection | None = None
    anchor: Detection | None = None  # "runs": the detection the followed frames started from
    last_thumb: np.ndarray | None = None  # of the last face's crop, kept for the cut check
    last_index, followed = -(10**9), 0
    # Larger (or, small, enlarged) whole-frame searches that may still miss before giving up.
    retries = SMALL_TRIES if small else 2

    def detect(image: np.ndarray, previous: Box | None) -> Detection | None:
        if small:
            return _detect_small(detector, image, previous, retries > 0)
        return _detect_main(detector, image, previous, retries > 0, max_side)

    for frame in frames:
        face, now_thumb = None, None
        if last is not None and followed < steps and 0 < frame.index - last_index <= gap:
            det = follow_landmarks(detector, frame.image, last, anchor, interpolation)
            face = None if det is None else cut(frame, det)
            if face is not None:
                now_thumb = crop_thumb(face.crop)
                if float(now_thumb @ last_thumb) < FOLLOW_MIN_NCC:
                    face = None  # the face no longer looks like the last one: a cut, detect
        followed = followed + 1 if face is not None else 0
        if face is None:
            det = detect(frame.image, last.box if last else None)
            if det is None:
                retries -= small or max(frame.image.shape[:2]) > max_side
                continue
            face, now_thumb = cut(frame, det), None
            anchor = det if tracking == "runs" else None
        if steps:
            last_thumb = now_thumb if now_thumb is not None else crop_thumb(face.crop)
        last, last_index = det, frame.index
        yield face
