"""Shortcut control: the same measures on a region with no face (see models.evaluation)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from common.faces.crops import MARGIN, face_mask
from common.types import Box, Face, Frame

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
