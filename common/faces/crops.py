"""Canonical face crops: a square around the face box with a margin, and the inner-face mask."""

from __future__ import annotations

import cv2
import numpy as np

from common.faces.detection import Detection
from common.types import Box, Face, Frame

# The crop spans MARGIN x the face box, so the blend boundary of a swapped face (at or just
# outside the detector box) lies well inside the crop with context around it.
MARGIN = 1.6


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
