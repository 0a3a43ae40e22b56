"""Faces: detection (``detection``), canonical crops and masks (``crops``), following the
main face across frames (``tracking``) and face-free patches for the shortcut control
(``background``).

The names below are re-exported so that ``from common.faces import track_faces`` keeps
working; a module constant (e.g. ``FOLLOW_MIN_NCC``) is read where it is defined.
"""

from common.faces.background import background_faces
from common.faces.crops import MARGIN, crop_square, face_mask, jitter_box, make_face
from common.faces.detection import (
    DETECT_MAX_SIDE,
    RETRY_MAX_SIDE,
    TRACK_FACE_PX,
    TRACK_WINDOW,
    Detection,
    DlibDetector,
    FaceDetector,
    HaarDetector,
    detect_faces,
    detect_near,
    make_detector,
)
from common.faces.tracking import (
    FOLLOW_MAX_GAP,
    FOLLOW_MIN_NCC,
    FOLLOW_STEPS,
    Reframe,
    crop_thumb,
    follow_landmarks,
    iter_faces,
    pick_main,
    track_faces,
)

__all__ = [
    "DETECT_MAX_SIDE",
    "FOLLOW_MAX_GAP",
    "FOLLOW_MIN_NCC",
    "FOLLOW_STEPS",
    "MARGIN",
    "RETRY_MAX_SIDE",
    "TRACK_FACE_PX",
    "TRACK_WINDOW",
    "Detection",
    "DlibDetector",
    "FaceDetector",
    "HaarDetector",
    "Reframe",
    "background_faces",
    "crop_square",
    "crop_thumb",
    "detect_faces",
    "detect_near",
    "face_mask",
    "follow_landmarks",
    "iter_faces",
    "jitter_box",
    "make_detector",
    "make_face",
    "pick_main",
    "track_faces",
]
