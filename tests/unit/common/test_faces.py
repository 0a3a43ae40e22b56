"""Face detection (Haar and dlib), main-face tracking, canonical crops and face masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _media import (
    ASTRONAUT_FACE_CENTRE,
    ASTRONAUT_FACE_SIDE,
    astronaut_bgr,
    face_grid,
    gradient_bgr,
    no_face_bgr,
    small_face_frames,
)

from common.faces import (
    MARGIN,
    Detection,
    DlibDetector,
    HaarDetector,
    crop_square,
    detect_faces,
    face_mask,
    make_detector,
    make_face,
    pick_main,
    track_faces,
)
from common.faces.detection import detect_small
from common.faces.tracking import SMALL_TRIES
from common.types import Box, Frame

BACKENDS = ["haar", "dlib"]


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return astronaut_bgr()


def _face_patch(img: np.ndarray) -> np.ndarray:
    """The astronaut's head, 200x200, face about 95 px wide."""
    return img[30:230, 125:325].copy()


def _two_faces(img: np.ndarray, dx: int = 0) -> np.ndarray:
    """A 640x300 frame: the face at 200 px on the left, a larger copy (260 px) on the right."""
    face = _face_patch(img)
    canvas = np.full((300, 640, 3), 90, np.uint8)
    canvas[50:250, 40 + dx : 240 + dx] = face
    canvas[20:280, 340:600] = cv2.resize(face, (260, 260))
    return canvas


def _left_only(img: np.ndarray) -> np.ndarray:
    canvas = _two_faces(img)
    canvas[:, 320:] = 90
    return canvas


# --------------------------------------------------------------------------- detection


def test_backends_implement_the_interface() -> None:
    assert isinstance(make_detector("haar"), HaarDetector)
    assert isinstance(make_detector("dlib"), DlibDetector)
    assert make_detector("haar") is make_detector("haar")  # built once per process
    with pytest.raises(ValueError):
        make_detector("yunet")


@pytest.mark.parametrize("backend", BACKENDS)
def test_astronaut_face_found_in_the_right_place(astronaut: np.ndarray, backend: str) -> None:
    found = detect_faces(make_detector(backend), astronaut)
    assert len(found) == 1
    box = found[0].box
    cx, cy = box.center
    assert abs(cx - ASTRONAUT_FACE_CENTRE[0]) < 15
    assert abs(cy - ASTRONAUT_FACE_CENTRE[1]) < 15
    assert 0.75 * ASTRONAUT_FACE_SIDE < box.w < 1.3 * ASTRONAUT_FACE_SIDE


def test_backends_agree(astronaut: np.ndarray) -> None:
    (a,) = detect_faces(make_detector("haar"), astronaut)
    (b,) = detect_faces(make_detector("dlib"), astronaut)
    ix = max(0, min(a.box.x + a.box.w, b.box.x + b.box.w) - max(a.box.x, b.box.x))
    iy = max(0, min(a.box.y + a.box.h, b.box.y + b.box.h) - max(a.box.y, b.box.y))
    inter = ix * iy
    assert inter / (a.box.area + b.box.area - inter) > 0.6


def test_dlib_landmarks_on_the_face(astronaut: np.ndarray) -> None:
    (det,) = detect_faces(make_detector("dlib"), astronaut)
    lm = det.landmarks
    assert lm is not None and lm.shape == (68, 2)
    b = det.box
    pad = 0.25 * b.w
    assert (lm[:, 0] > b.x - pad).all() and (lm[:, 0] < b.x + b.w + pad).all()
    assert (lm[:, 1] > b.y - pad).all() and (lm[:, 1] < b.y + b.h + pad).all()
    # Anatomy: eyes (36-47) above the nose tip (30) above the mouth (48-67) above the chin (8).
    eyes_y, nose_y = lm[36:48, 1].mean(), lm[30, 1]
    mouth_y, chin_y = lm[48:68, 1].mean(), lm[8, 1]
    assert eyes_y < nose_y < mouth_y < chin_y
    # Left eye (36-41, image left) left of the right eye (42-47).
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()


@pytest.mark.parametrize("backend", BACKENDS)
def test_detection_maps_back_from_the_downscaled_copy(astronaut: np.ndarray, backend: str) -> None:
    # A 2x frame is detected on a copy shrunk to DETECT_MAX_SIDE; the box comes back in 2x.
    big = cv2.resize(astronaut, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    (det,) = detect_faces(make_detector(backend), big)
    cx, cy = det.box.center
    assert abs(cx - 2 * ASTRONAUT_FACE_CENTRE[0]) < 30
    assert abs(cy - 2 * ASTRONAUT_FACE_CENTRE[1]) < 30
    assert 1.5 * ASTRONAUT_FACE_SIDE < det.box.w < 2.6 * ASTRONAUT_FACE_SIDE


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("image", ["coffee", "gradient", "noise", "black"])
def test_no_face_no_detection(backend: str, image: str) -> None:
    img = {
        "coffee": no_face_bgr,
        "gradient": gradient_bgr,
        "noise": lambda: np.random.default_rng(0).integers(0, 256, (240, 320, 3), np.uint8),
        "black": lambda: np.zeros((240, 320, 3), np.uint8),
    }[image]()
    assert detect_faces(make_detector(backend), img) == []


def test_grayscale_input(astronaut: np.ndarray) -> None:
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    assert len(detect_faces(make_detector("haar"), gray)) == 1


# --------------------------------------------------------------------------- main face


def _det(x: int, y: int, side: int) -> Detection:
    return Detection(Box(x, y, side, side))


def test_pick_main_rules() -> None:
    small, big = _det(40, 40, 100), _det(400, 40, 140)
    assert pick_main([], None) is None
    assert pick_main([small, big], None) is big  # no history: the largest
    assert pick_main([small, big], Box(45, 42, 100, 100)) is small  # history: the same one
    assert pick_main([big, small], Box(395, 38, 140, 140)) is big
    # The previous face left (far from every candidate): fall back to the largest.
    assert pick_main([small, big], Box(220, 400, 60, 60)) is big


@pytest.mark.parametrize("backend", BACKENDS)
def test_track_keeps_the_same_face_across_frames(astronaut: np.ndarray, backend: str) -> None:
    # Frame 0 shows only the smaller face; then a larger one appears beside it. The track
    # must stay on the first person, not jump to the biggest face.
    frames = [Frame(0, 0.0, _left_only(astronaut))]
    frames += [Frame(i, i / 25, _two_faces(astronaut, dx=4 * i)) for i in range(1, 4)]
    detector = make_detector(backend)
    assert all(len(detect_faces(detector, f.image)) == 2 for f in frames[1:])
    faces = track_faces(frames, detector, 96)
    assert [f.frame_index for f in faces] == [0, 1, 2, 3]
    for f in faces:
        assert f.box.center[0] < 320, f"frame {f.frame_index} jumped to the other face"
    # Without history the larger face would have won.
    (only_big,) = track_faces(frames[1:2], detector, 96)
    assert only_big.box.center[0] > 320


def test_track_skips_frames_without_a_face(astronaut: np.ndarray) -> None:
    frames = [
        Frame(0, 0.0, astronaut),
        Frame(1, 0.04, no_face_bgr()),
        Frame(2, 0.08, astronaut),
    ]
    faces = track_faces(frames, make_detector("haar"), 64)
    assert [f.frame_index for f in faces] == [0, 2]


# --------------------------------------------------------------------------- small and many


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_face_in_a_wide_shot_is_found_by_the_second_pass(backend: str) -> None:
    # A 1280x720 frame with a face 40 px wide: the usual passes (480, then 960 px) see it
    # at 15-30 px, below either detector's smallest face.
    side = 40
    frames = [Frame(i, i / 25, img) for i, img in enumerate(small_face_frames(4, side))]
    detector = make_detector(backend)
    assert track_faces(frames, detector, 128) == []
    faces = track_faces(frames, detector, 128, small=True)
    assert [f.frame_index for f in faces] == list(range(4))
    for i, f in enumerate(faces):  # where the face was pasted (see small_face_frames)
        cx, cy = f.box.center
        assert abs(cx - (1280 // 3 + 2 * i)) < side / 3 and abs(cy - 360) < side / 3
        assert 0.75 * side < f.box.w < 1.35 * side
        assert f.crop.shape == (128, 128, 3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("image", ["coffee", "gradient"])
def test_second_pass_finds_no_face_where_there_is_none(backend: str, image: str) -> None:
    img = no_face_bgr() if image == "coffee" else gradient_bgr(640, 360)
    assert detect_small(make_detector(backend), img) == []
    frames = [Frame(i, i / 25, img) for i in range(SMALL_TRIES + 2)]
    assert track_faces(frames, make_detector(backend), 128, small=True) == []


class _Passes:
    """Counts whole-frame detection passes of the wrapped detector."""

    def __init__(self, inner: object) -> None:
        self.inner, self.calls = inner, 0
        self.name, self.min_face = inner.name, inner.min_face  # type: ignore[attr-defined]

    def detect(self, gray: np.ndarray) -> list[Detection]:
        self.calls += 1
        return self.inner.detect(gray)  # type: ignore[attr-defined]


def test_second_pass_gives_up_after_its_tries() -> None:
    # A clip with no face costs at most SMALL_TRIES enlarged searches, however long.
    counting = _Passes(make_detector("dlib"))
    frames = [Frame(i, i / 25, gradient_bgr(640, 360)) for i in range(12)]
    assert track_faces(frames, counting, 128, small=True) == []  # type: ignore[arg-type]
    assert counting.calls == SMALL_TRIES


@pytest.mark.parametrize("backend", BACKENDS)
def test_grid_of_twelve_equal_faces_gives_the_most_central_tracked(backend: str) -> None:
    # Twelve 48-px faces in 4x3 tiles of an 800x450 frame (a video call), shifted 20 px
    # right so that one tile is nearest the centre: tile 5 (row 1, column 1).
    frames = [Frame(i, i / 25, face_grid([48] * 12, dx=20 + i)[0]) for i in range(4)]
    _, centres = face_grid([48] * 12, dx=20)
    detector = make_detector(backend)
    assert len(detect_small(detector, frames[0].image)) >= 10  # many faces are seen
    faces = track_faces(frames, detector, 128, small=True)
    assert [f.frame_index for f in faces] == [0, 1, 2, 3]
    for i, f in enumerate(faces):  # the same tile in every frame: tracked, not re-picked
        cx, cy = f.box.center
        assert abs(cx - (centres[5][0] + i)) < 12 and abs(cy - centres[5][1]) < 12


@pytest.mark.parametrize("backend", BACKENDS)
def test_grid_with_one_larger_face_gives_the_larger(backend: str) -> None:
    # Eleven 48-px faces and a 72-px one in the bottom-right tile: the largest is the main
    # face, central or not.
    sides = [48] * 11 + [72]
    frames = [Frame(i, i / 25, face_grid(sides, dx=20 + i)[0]) for i in range(3)]
    _, centres = face_grid(sides, dx=20)
    for small in (False, True):
        faces = track_faces(frames, make_detector(backend), 128, small=small)
        assert faces, f"small={small}"
        for i, f in enumerate(faces):
            cx, cy = f.box.center
            assert abs(cx - (centres[11][0] + i)) < 15 and abs(cy - centres[11][1]) < 15


def test_pick_main_among_equals_takes_the_most_central() -> None:
    left, centre, right = _det(40, 100, 50), _det(300, 110, 48), _det(560, 100, 52)
    shape = (300, 640, 3)
    assert pick_main([left, centre, right], None, shape) is centre
    assert pick_main([left, centre, right], None) is right  # first pass: plain largest
    # Clearly larger wins wherever it is.
    big = _det(10, 10, 70)
    assert pick_main([left, centre, big], None, shape) is big


# --------------------------------------------------------------------------- crops and masks


@pytest.mark.parametrize("size", [64, 128, 200])
@pytest.mark.parametrize(
    "box", [Box(100, 100, 80, 80), Box(-20, -10, 60, 90), Box(300, 200, 50, 40)]
)
def test_crop_square_size(size: int, box: Box) -> None:
    img = np.random.default_rng(1).integers(0, 256, (240, 320, 3), np.uint8)
    crop, m = crop_square(img, box, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    # The box centre maps to the crop centre; the longer box side spans size / MARGIN.
    cx, cy = box.center
    assert m @ np.array([cx, cy, 1.0]) == pytest.approx([size / 2, size / 2], abs=1e-3)
    assert m[0, 0] * max(box.w, box.h) == pytest.approx(size / MARGIN, rel=1e-5)


def test_crop_square_content() -> None:
    # A white 80x80 square on grey: with margin 1.6 into 160 px, the square fills the
    # crop's central 100x100 (rows/cols 30..130) and grey surrounds it.
    img = np.full((300, 300, 3), 50, np.uint8)
    img[100:180, 100:180] = 255
    crop, _ = crop_square(img, Box(100, 100, 80, 80), 160)
    assert (crop[32:128, 32:128] == 255).all()
    assert (crop[:28] == 50).all() and (crop[132:] == 50).all()
    assert (crop[:, :28] == 50).all() and (crop[:, 132:] == 50).all()


def test_make_face_shapes(astronaut: np.ndarray) -> None:
    (det,) = detect_faces(make_detector("haar"), astronaut)
    face = make_face(Frame(0, 0.0, astronaut), det, 128)
    assert face.crop.shape == (128, 128, 3)
    assert face.mask.shape == (128, 128) and face.mask.dtype == np.float32


def test_face_mask_ellipse() -> None:
    size = 128
    box = Box(24, 24, 80, 80)
    mask = face_mask(size, box, None)
    assert mask.shape == (size, size) and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    cx, cy = box.center
    assert mask[int(cy), int(cx)] == 1.0
    for y, x in [(0, 0), (0, size - 1), (size - 1, 0), (size - 1, size - 1)]:
        assert mask[y, x] == 0.0
    # Inside the box: an ellipse of 0.8 x 1.0 the box, so about pi/4 * 0.8 of its area.
    assert mask.sum() == pytest.approx(np.pi / 4 * 0.8 * box.area, rel=0.1)
    assert mask[:, : box.x].sum() == 0 and mask[:, box.x + box.w + 1 :].sum() == 0


def test_face_mask_from_landmarks(astronaut: np.ndarray) -> None:
    (det,) = detect_faces(make_detector("dlib"), astronaut)
    face = make_face(Frame(0, 0.0, astronaut), det, 128)
    mask, lm = face.mask, face.landmarks
    assert lm is not None and lm.shape == (68, 2)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    for i in (30, 33, 51, 57):  # nose tip, nose base, lips
        x, y = lm[i]
        assert mask[int(round(y)), int(round(x))] == 1.0
    for y, x in [(0, 0), (0, 127), (127, 0), (127, 127)]:
        assert mask[y, x] == 0.0
    # The inner face fills a sensible part of the crop (face ~ 1/1.6 of the side).
    assert 0.15 < mask.mean() < 0.5
