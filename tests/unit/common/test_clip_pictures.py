"""Clip families' pictures on made-up face tracks: they draw what the family measured, a
flickering or jittering track looks unlike a steady one, and the PNGs are real drawings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from _pages import PNG_MAGIC

# The made-up tracks of the families' own tests: the astronaut's face, a 68-point template.
from test_clip_families import face as face  # noqa: PLC0414 - the fixture, re-exported
from test_clip_families import inside, rigid, template, track

from common.features import CLIP_NAMES
from common.features.clip_pictures import (
    CLIP_PICTURES,
    TRACK_GROUPS,
    flicker_picture,
    landmarks_picture,
    runs_broken,
)
from common.features.flicker import flicker_pairs
from common.features.landmarks import INNER, PARTS
from common.features.pictures import Picture
from common.types import Box, Face, FaceTrack
from models.pages.figures import Shown, _draw_overlay, draw_picture, draw_side_by_side, figure

S = 128
N = 8


@pytest.fixture(scope="module")
def steady(face) -> FaceTrack:  # type: ignore[no-untyped-def]
    crop, mask = face
    return track([crop] * N, mask)


@pytest.fixture(scope="module")
def flickering(face) -> FaceTrack:  # type: ignore[no-untyped-def]
    """The inner face alone lighter and darker by turns: a paste that jumps."""
    crop, mask = face
    return track([inside(crop, mask, np.float32(8 * (-1) ** t)) for t in range(N)], mask)


@pytest.fixture(scope="module")
def jittering(face) -> FaceTrack:  # type: ignore[no-untyped-def]
    """Eyes and nose shifted as one piece each frame, the jaw still."""
    crop, mask = face
    rng = np.random.default_rng(1)
    pts = []
    for _ in range(N):
        p = template().copy()
        p[list(INNER)] += rng.normal(0, 1.5, 2)
        pts.append(p)
    return track([crop] * N, mask, pts)


def test_every_clip_family_has_its_picture() -> None:
    assert set(CLIP_PICTURES) == set(CLIP_NAMES)


def test_runs_break_between_non_consecutive_frames() -> None:
    x, v = runs_broken(np.arange(5), np.arange(10.0).reshape(2, 5), np.array([0, 1, 2, 9, 10]))
    np.testing.assert_array_equal(np.isnan(x), [0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(v[1], [5, 6, 7, np.nan, 8, 9])


def test_flicker_curves_are_the_familys_pairs(flickering: FaceTrack) -> None:
    light, detail = flicker_picture(flickering).panels
    p = flicker_pairs(flickering)
    # Frame to frame, the inner-minus-ring curve moves by the family's L jump.
    np.testing.assert_allclose(np.abs(np.diff(light.data[0])), p[:, 0], atol=1e-3)
    np.testing.assert_allclose(np.abs(np.diff(light.data[1])), p[:, 3], atol=1e-3)
    np.testing.assert_allclose(detail.data[0], p[:, 6])
    # The ring's change, recovered from the family's log ratio inside / ring.
    ratio = np.log((detail.data[0] + 1e-6) / (detail.data[1] + 1e-6))
    np.testing.assert_allclose(ratio, p[:, 4], atol=1e-9)
    np.testing.assert_array_equal(detail.x, np.arange(N - 1) + 0.5)


def test_a_flickering_face_draws_a_jagged_line(steady: FaceTrack, flickering: FaceTrack) -> None:
    calm, jumpy = flicker_picture(steady), flicker_picture(flickering)
    assert np.abs(calm.panels[0].data).max() < 1e-3  # nothing moves
    face_minus_ring, ring = jumpy.panels[0].data
    assert np.all(np.abs(np.diff(face_minus_ring)) > 5)  # it jumps at every frame...
    assert np.abs(ring).max() < 1e-3  # ...while the ring stays
    assert np.all(np.sign(np.diff(face_minus_ring))[1:] == -np.sign(np.diff(face_minus_ring))[:-1])
    assert jumpy.measures["face L jump against ring"] > 5
    assert calm.measures["face L jump against ring"] < 1e-3
    assert calm.measures["ring L change"] == jumpy.measures["ring L change"] == 0


def test_flicker_breaks_its_curves_between_runs(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    frames = [inside(crop, mask, np.float32(8 * (-1) ** t)) for t in range(6)]
    light, detail = flicker_picture(track(frames, mask, index=[0, 1, 2, 40, 41, 42])).panels
    assert light.data.shape == (2, 7) and np.isnan(light.data[:, 3]).all()
    assert detail.data.shape == (2, 5) and np.isnan(detail.data[:, 2]).all()
    np.testing.assert_array_equal(detail.x[[0, 1, 3, 4]], [0.5, 1.5, 3.5, 4.5])


def test_spread_frames_draw_as_dots(face, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Frames far apart (the ``spread`` sampling): no pair to compare, and every frame a run
    of its own, drawn as a dot (a line through one point would draw nothing)."""
    crop, mask = face
    frames = [inside(crop, mask, np.float32(8 * (-1) ** t)) for t in range(4)]
    light, detail = flicker_picture(track(frames, mask, index=[0, 10, 20, 30])).panels
    assert detail.data.shape == (2, 0) and "no two consecutive frames" in detail.title
    assert np.isfinite(light.data).sum() == 8 and np.isnan(light.data[:, 1::2]).all()
    with figure(tmp_path / "dots.png", 1, 1, (3, 3)) as (_, axes):
        _draw_overlay(axes[0][0], [(Shown("", Picture((light,))), light)])
        lines = axes[0][0].get_lines()
        assert len(lines) == 2 and all(line.get_marker() == "o" for line in lines)
    assert (tmp_path / "dots.png").read_bytes()[:8] == PNG_MAGIC


def _group(pic: Picture, g: int) -> np.ndarray:
    tracks = pic.panels[0].data
    return tracks[tracks[:, 2] == g, :2]


def test_landmark_tracks_show_the_inner_face_jitter(
    steady: FaceTrack, jittering: FaceTrack
) -> None:
    calm, jumpy = landmarks_picture(steady), landmarks_picture(jittering)
    tracks = jumpy.panels[0]
    assert tracks.kind == "tracks" and tracks.series == TRACK_GROUPS
    assert tracks.data.shape == (68 * N, 4)
    assert (tracks.data[:, 2] == 0).sum() == len(INNER) * N
    assert (tracks.data[:, 2] == 1).sum() == len(PARTS["jaw"]) * N

    def spread(pic: Picture, g: int) -> float:
        pts = _group(pic, g).reshape(-1, N, 2)  # one track per point
        return float(pts.std(axis=1).mean())

    assert spread(calm, 0) < 1e-4 and spread(calm, 1) < 1e-4
    # Aligning on all 68 points hands the jaw part of the inner face's shift, as the family.
    assert spread(jumpy, 0) > 2 * spread(jumpy, 1) > 0
    assert jumpy.measures["inner-face wander"] > 2 * jumpy.measures["jaw wander"]
    # The pose gap curves: flat for the still face, moving for the jittered one.
    gap = jumpy.panels[1]
    assert gap.data.shape == (3, N) and np.isfinite(gap.data).all()
    assert np.abs(calm.panels[1].data).max() < 1e-4
    assert gap.data[2].std() > 0.01 and jumpy.measures["pose shift gap"] > 0.01


def test_side_by_side_tracks_share_one_box(
    steady: FaceTrack, jittering: FaceTrack, tmp_path: Path
) -> None:
    """--against: both videos' tracks on the same axes limits, so their wander compares."""
    pics = [landmarks_picture(jittering), landmarks_picture(steady)]
    here = [(Shown(f"v{i}", p), p.panels[0]) for i, p in enumerate(pics)]
    with figure(tmp_path / "box.png", 1, 2, (6, 3)) as (_, axes):
        draw_side_by_side(axes[0], here)
        (a, b) = axes[0]
        assert a.get_xlim() == b.get_xlim() and a.get_ylim() == b.get_ylim()
        # The box holds the wider (jittered) tracks.
        x, y = pics[0].panels[0].data[:, 0], pics[0].panels[0].data[:, 1]
        assert a.get_xlim()[0] < x.min() and a.get_xlim()[1] > x.max()
        assert a.get_ylim()[0] < y.min() and a.get_ylim()[1] > y.max()
        assert a.get_title().startswith("v0: aligned landmark tracks")


def test_rigid_head_motion_leaves_the_tracks_still(face) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    moving = [
        rigid(template(), 0.05 * np.sin(t), 1 + 0.05 * np.cos(t), (3 * t, -2 * t)) for t in range(N)
    ]
    pic = landmarks_picture(track([crop] * N, mask, moving))
    pts = pic.panels[0].data[:, :2].reshape(68, N, 2)
    assert pts.std(axis=1).max() < 1e-3
    # In inter-ocular distances, y up: the eyes (36-47) above the jaw's lowest point (8).
    assert pts[36:48, :, 1].min() > pts[8, :, 1].max()


def test_a_track_without_landmarks_draws_empty_panels(face, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    crop, mask = face
    t = FaceTrack.of([Face(i, Box(0, 0, S, S), crop, mask, None) for i in range(4)])
    pic = landmarks_picture(t)
    assert pic.panels[0].data.shape == (0, 4) and pic.panels[1].data.shape == (3, 0)
    assert pic.measures == {} and pic.panels[0].title.endswith("no landmarks")
    draw_picture([Shown("", pic)], tmp_path / "empty.png")
    assert (tmp_path / "empty.png").read_bytes()[:8] == PNG_MAGIC


def _drawn(pics: list[Picture], path: Path) -> np.ndarray:
    draw_picture([Shown(f"v{i}", p) for i, p in enumerate(pics)], path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = cv2.imread(str(path))
    assert img is not None
    return img


@pytest.mark.parametrize("name", sorted(CLIP_PICTURES))
def test_pictures_are_drawn_and_differ(
    name: str, steady: FaceTrack, flickering: FaceTrack, jittering: FaceTrack, tmp_path: Path
) -> None:
    changed = flickering if name == "flicker" else jittering
    draw = CLIP_PICTURES[name]
    calm = _drawn([draw(steady)], tmp_path / "steady.png")
    moved = _drawn([draw(changed)], tmp_path / "changed.png")
    for img in (calm, moved):
        assert img.std() > 20 and (img < 128).any(axis=2).mean() > 0.005  # drawn, not blank
    assert calm.shape != moved.shape or np.abs(calm.astype(int) - moved).mean() > 1
    # Two videos side by side (--against): one drawing wider than one video's.
    both = _drawn([draw(changed), draw(steady)], tmp_path / "both.png")
    assert both.shape[1] > moved.shape[1]
