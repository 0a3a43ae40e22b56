"""Clip families (flicker, landmark motion) on made-up face tracks."""

from __future__ import annotations

import numpy as np
import pytest
from _media import astronaut_bgr

from common.faces import crop_square, face_mask
from common.features.flicker import COLUMNS as FLICKER_COLUMNS
from common.features.flicker import consecutive_pairs, flicker_features, flicker_pairs
from common.features.landmarks import COLUMNS as LANDMARK_COLUMNS
from common.features.landmarks import PARTS, consecutive_triples, landmark_features
from common.types import Box, Face, FaceTrack

S = 128
FL = {n: i for i, n in enumerate(FLICKER_COLUMNS)}
LM = {n: i for i, n in enumerate(LANDMARK_COLUMNS)}


def _ring(cx: float, cy: float, rx: float, ry: float, n: int) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.c_[cx + rx * np.cos(a), cy + ry * np.sin(a)]


def template() -> np.ndarray:
    """68 plausible face points in a 128-px crop (jaw arc, brows, nose, eyes, mouth)."""
    a = np.linspace(np.pi * 0.95, np.pi * 0.05, 17)
    jaw = np.c_[64 - 40 * np.cos(a), 60 + 42 * np.sin(a)]
    brows = np.c_[np.r_[np.linspace(34, 58, 5), np.linspace(70, 94, 5)], np.full(10, 44.0)]
    bridge = np.c_[np.full(4, 64.0), np.linspace(52, 70, 4)]
    nostrils = np.c_[np.linspace(56, 72, 5), np.full(5, 76.0)]
    eyes = np.vstack([_ring(46, 56, 8, 3, 6), _ring(82, 56, 8, 3, 6)])
    pts = np.vstack([jaw, brows, bridge, nostrils, eyes, _ring(64, 92, 16, 5, 20)])
    assert pts.shape == (68, 2)
    return pts.astype(np.float32)


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    crop, _ = crop_square(astronaut_bgr(), Box(178, 66, 94, 94), S)
    return crop, face_mask(S, Box(24, 24, 80, 80), None)


def track(
    crops: list[np.ndarray],
    mask: np.ndarray,
    lms: list[np.ndarray] | None = None,
    index: list[int] | None = None,
) -> FaceTrack:
    lms = lms or [template()] * len(crops)
    index = index if index is not None else list(range(len(crops)))
    return FaceTrack.of(
        [Face(i, Box(0, 0, S, S), c, mask, lm) for i, c, lm in zip(index, crops, lms, strict=True)]
    )


def inside(crop: np.ndarray, mask: np.ndarray, delta: np.ndarray) -> np.ndarray:
    m = (mask > 0.5)[..., None]
    return np.clip(crop.astype(np.float32) + m * delta, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------- flicker


def test_identical_frames_give_zero_flicker(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    p = flicker_pairs(track([crop] * 6, mask))
    assert p.shape == (5, 7)
    assert np.allclose(p, 0.0)
    v = flicker_features(track([crop] * 6, mask))
    assert v.shape == (len(FLICKER_COLUMNS),) and v.dtype == np.float32
    assert v[FL["lab_jump_L"]] == pytest.approx(np.log(1e-3))
    assert v[FL["detail_flicker0"]] == 0.0 and v[FL["lab_jump_vs_ring"]] == 0.0


def test_a_face_that_flickers_against_its_surround(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    steady = flicker_features(track([crop] * 6, mask))
    swap = [inside(crop, mask, np.float32(8 * (-1) ** t)) for t in range(6)]
    flick = flicker_features(track(swap, mask))
    assert flick[FL["lab_jump_L"]] > steady[FL["lab_jump_L"]] + 5
    assert flick[FL["lab_jump_vs_ring"]] > 5  # the ring did not change at all


def test_light_changing_for_the_whole_scene_is_not_flicker(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    lit = [
        np.clip(crop.astype(np.int16) + 8 * (-1) ** t, 0, 255).astype(np.uint8) for t in range(6)
    ]
    v = flicker_features(track(lit, mask))
    swap = [inside(crop, mask, np.float32(8 * (-1) ** t)) for t in range(6)]
    assert v[FL["lab_jump_L"]] < flicker_features(track(swap, mask))[FL["lab_jump_L"]] - 2
    assert v[FL["lab_jump_vs_ring"]] < -2  # the ring's own change explains it


def test_fresh_detail_inside_each_frame_raises_detail_flicker(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    rng = np.random.default_rng(0)
    same = rng.normal(0, 6, crop.shape).astype(np.float32)
    steady = flicker_features(track([inside(crop, mask, same)] * 6, mask))
    fresh = [inside(crop, mask, rng.normal(0, 6, crop.shape).astype(np.float32)) for _ in range(6)]
    v = flicker_features(track(fresh, mask))
    assert v[FL["detail_flicker0"]] > steady[FL["detail_flicker0"]] + 1.0
    assert v[FL["detail_flicker_in"]] > steady[FL["detail_flicker_in"]] + 1.0


def test_only_consecutive_frames_are_compared(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    assert consecutive_pairs(np.array([0, 1, 2, 10, 11, 30])) == [0, 1, 3]
    swap = [inside(crop, mask, np.float32(8 * (-1) ** t)) for t in range(4)]
    spread = track(swap, mask, index=[0, 10, 20, 30])
    assert flicker_pairs(spread).shape == (0, 7)
    assert not flicker_features(spread).any()


def test_flicker_without_landmarks_keeps_the_colour_columns(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    swap = [inside(crop, mask, np.float32(8 * (-1) ** t)) for t in range(4)]
    t = FaceTrack.of([Face(i, Box(0, 0, S, S), c, mask, None) for i, c in enumerate(swap)])
    v = flicker_features(t)
    assert v[FL["lab_jump_L"]] > 1.0
    assert v[FL["detail_flicker0"]] == 0.0 and v[FL["detail_flicker_in"]] == 0.0


# ------------------------------------------------------------------------- landmark motion


def rigid(pts: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    centre = pts.mean(axis=0)
    return ((pts - centre) @ np.array([[c, -s], [s, c]]).T + centre + shift).astype(np.float32)


def test_still_landmarks_give_no_motion(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    v = landmark_features(track([crop] * 8, mask))
    assert v.shape == (len(LANDMARK_COLUMNS),) and v.dtype == np.float32
    assert v[LM["accel_eyes"]] == pytest.approx(np.log(1e-4), abs=1e-3)
    assert np.allclose(v[LM["pose_rot"] :], 0.0, atol=1e-4)


def test_rigid_head_motion_is_removed(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    t0 = template()
    moving = [rigid(t0, 0.05 * np.sin(t), 1 + 0.05 * np.cos(t), (3 * t, -2 * t)) for t in range(8)]
    v = landmark_features(track([crop] * 8, mask, moving))
    assert (v[: LM["accel_mouth"] + 1] < np.log(1e-3)).all()
    assert np.abs(v[LM["pose_rot"] :]).max() < 1e-3


def test_jittered_inner_face_moves_the_measures(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    rng = np.random.default_rng(1)
    t0, inner = template(), list(PARTS["nose"] + PARTS["eyes"])
    jittered = []
    for _ in range(8):
        pts = t0.copy()
        pts[inner] += rng.normal(0, 1.5, 2)  # the pasted inner face shifts as one piece
        jittered.append(pts)
    still = landmark_features(track([crop] * 8, mask))
    v = landmark_features(track([crop] * 8, mask, jittered))
    assert v[LM["accel_eyes"]] > still[LM["accel_eyes"]] + 3
    assert v[LM["accel_inner_vs_jaw"]] > 0.5
    assert v[LM["pose_shift_sd"]] > 0.01 and v[LM["pose_shift"]] > 0.01


def test_missing_landmarks_give_zeros(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    t = FaceTrack.of([Face(i, Box(0, 0, S, S), crop, mask, None) for i in range(5)])
    assert np.isnan(t.landmarks).all()
    assert not landmark_features(t).any()


def test_triples_need_three_consecutive_frames() -> None:
    assert consecutive_triples(np.array([0, 1, 2, 3, 9, 10, 20, 21, 22])) == [0, 1, 6]


def test_face_track_needs_faces() -> None:
    with pytest.raises(ValueError):
        FaceTrack.of([])
