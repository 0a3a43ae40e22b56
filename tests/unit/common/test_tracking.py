"""Landmark tracking between near-adjacent frames, and the segments sampling's spread fallback."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _media import face_frames, gradient_bgr, no_face_bgr, write_video

from common.extract import ExtractConfig, extract
from common.faces import FOLLOW_STEPS, Detection, jitter_box, make_detector, track_faces
from common.faces import tracking as tracking_mod
from common.features import FAMILIES
from common.frames import SampleLimits, iter_video
from common.settings import Settings
from common.types import SAMPLINGS, TRACKINGS, Box, Frame, Tracking
from models.augment import BoxJitter
from models.featurize import Recipe, cache_key


class Counting:
    """A detector proxy that counts detection passes and landmark re-fits."""

    def __init__(self, inner: object) -> None:
        self.inner, self.name = inner, inner.name  # type: ignore[attr-defined]
        self.min_face = inner.min_face  # type: ignore[attr-defined]
        self.detects = self.refits = 0
        if hasattr(inner, "landmarks_at"):
            self.landmarks_at = self._landmarks_at

    def detect(self, gray: np.ndarray) -> list[Detection]:
        self.detects += 1
        return self.inner.detect(gray)  # type: ignore[attr-defined]

    def _landmarks_at(self, gray: np.ndarray, box: Box) -> np.ndarray | None:
        self.refits += 1
        return self.inner.landmarks_at(gray, box)  # type: ignore[attr-defined]


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a.area + b.area - inter)


@pytest.fixture(scope="module")
def clip() -> list[Frame]:
    return [Frame(i, i / 25, img) for i, img in enumerate(face_frames(12))]


def test_landmarks_tracking_detects_less_and_keeps_the_face(clip: list[Frame]) -> None:
    plain, follow = Counting(make_detector("dlib")), Counting(make_detector("dlib"))
    by_detection = track_faces(clip, plain, 128)
    by_landmarks = track_faces(clip, follow, 128, "landmarks")
    assert [f.frame_index for f in by_landmarks] == list(range(12))
    assert [f.frame_index for f in by_detection] == list(range(12))
    assert plain.detects >= 12 and plain.refits == 0
    # One detection, then FOLLOW_STEPS re-fits, then a detection again ...
    assert follow.detects == len(range(0, 12, FOLLOW_STEPS + 1))
    assert follow.refits == 12 - follow.detects
    for a, b in zip(by_detection, by_landmarks, strict=True):
        assert iou(a.box, b.box) > 0.6, (a.frame_index, a.box, b.box)
        assert b.landmarks is not None and b.mask.sum() > 0.2 * b.mask.size


def test_runs_tracking_follows_each_run_from_one_detection(clip: list[Frame]) -> None:
    # Two runs of 6 consecutive frames, 40 frames apart (segments sampling).
    runs = clip[:6] + [Frame(f.index + 40, f.time_s, f.image) for f in clip[6:]]
    plain, follow, every4 = (Counting(make_detector("dlib")) for _ in range(3))
    by_detection = track_faces(runs, plain, 128)
    by_runs = track_faces(runs, follow, 128, "runs")
    track_faces(runs, every4, 128, "landmarks")
    assert [f.frame_index for f in by_runs] == [f.index for f in runs]
    assert (follow.detects, follow.refits) == (2, 10)  # a detection starts each run
    assert (every4.detects, every4.refits) == (4, 8)  # one more every FOLLOW_STEPS + 1
    for a, b in zip(by_detection, by_runs, strict=True):
        assert iou(a.box, b.box) > 0.6, (a.frame_index, a.box, b.box)


def test_follow_tracking_detects_once_across_the_gaps(clip: list[Frame]) -> None:
    # Two runs of 6 frames, 40 frames apart: "follow" crosses the gap with one re-fit.
    runs = clip[:6] + [Frame(f.index + 40, f.time_s, f.image) for f in clip[6:]]
    plain, follow = Counting(make_detector("dlib")), Counting(make_detector("dlib"))
    by_detection = track_faces(runs, plain, 128)
    by_follow = track_faces(runs, follow, 128, "follow")
    assert [f.frame_index for f in by_follow] == [f.index for f in runs]
    assert (follow.detects, follow.refits) == (1, 11)
    for a, b in zip(by_detection, by_follow, strict=True):
        assert iou(a.box, b.box) > 0.6, (a.frame_index, a.box, b.box)


def test_follow_searches_whole_frames_smaller(clip: list[Frame]) -> None:
    seen: list[int] = []
    inner = make_detector("dlib")

    class Sizes(Counting):
        def detect(self, gray: np.ndarray) -> list[Detection]:
            seen.append(max(gray.shape[:2]))
            return super().detect(gray)

    # A frame larger than both whole-frame sizes, so that each is a downscale.
    big = [Frame(f.index, f.time_s, np.repeat(np.repeat(f.image, 2, 0), 2, 1)) for f in clip[:2]]
    assert max(big[0].image.shape[:2]) > tracking_mod.DETECT_MAX_SIDE
    for mode, side in (("landmarks", tracking_mod.DETECT_MAX_SIDE), ("follow", 360)):
        seen.clear()
        assert len(track_faces(big, Sizes(inner), 128, mode)) == 2
        assert seen[0] == side  # the first face is searched for on the whole frame


class Zooming:
    """A stand-in fitter whose landmarks grow by ``step`` and move 0.3 px per frame: the
    tracker's box arithmetic alone, without dlib's fit."""

    name, min_face = "stub", 80

    def __init__(self, step: float) -> None:
        self.step, self.frame, self.seed = step, 0, Box(0, 0, 1, 1)
        self.base = np.random.default_rng(0).uniform(-40, 40, (68, 2)).astype(np.float32)

    def points(self, i: int) -> np.ndarray:
        return self.base * np.float32(self.step**i) + np.float32([160 + 0.3 * i, 120])

    def detect(self, gray: np.ndarray) -> list[Detection]:
        return [Detection(Box(110, 70, 100, 100), self.points(0))]

    def landmarks_at(self, gray: np.ndarray, box: Box) -> np.ndarray:
        # The fit lands on the true points, given in the window's coordinates: the window
        # starts where the seed box (frame) sits relative to ``box`` (window, scale 1).
        offset = np.float32([self.seed.x - box.x, self.seed.y - box.y])
        return self.points(self.frame) - offset


def test_runs_boxes_follow_the_landmarks_without_adding_up_rounding() -> None:
    fitter = Zooming(1.004)
    image = np.full((480, 640, 3), 128, np.uint8)
    last = first = Detection(Box(110, 70, 100, 100), fitter.points(0))
    per_step = first
    for i in range(1, 31):
        fitter.frame, fitter.seed = i, last.box
        last = tracking_mod.follow_landmarks(fitter, image, last, first)  # type: ignore[arg-type]
        fitter.seed = per_step.box
        per_step = tracking_mod.follow_landmarks(fitter, image, per_step)  # type: ignore[arg-type]
    # After 30 frames the face is 1.004^30 = 1.127x as large and 9 px to the right.
    want = 100 * 1.004**30
    assert abs(last.box.w - want) <= 1 and abs(last.box.center[0] - (160 + 9)) <= 1
    # Box by box (tracking="landmarks"), each truncated width loses up to a pixel.
    assert per_step.box.w < want - 5


def test_landmarks_tracking_is_plain_detection_across_gaps(clip: list[Frame]) -> None:
    # Spread samples are many frames apart: nothing to follow, so nothing may change.
    sparse = [Frame(f.index * 10, f.time_s, f.image) for f in clip[::3]]
    a = track_faces(sparse, make_detector("dlib"), 96)
    b = track_faces(sparse, make_detector("dlib"), 96, "landmarks")
    assert [f.box for f in a] == [f.box for f in b]
    assert all(np.array_equal(x.crop, y.crop) for x, y in zip(a, b, strict=True))


def test_haar_has_no_landmarks_to_follow(clip: list[Frame]) -> None:
    a = track_faces(clip[:5], make_detector("haar"), 96)
    b = track_faces(clip[:5], make_detector("haar"), 96, "landmarks")
    assert len(a) == 5 and [f.box for f in a] == [f.box for f in b]


@pytest.mark.parametrize("tracking", ["landmarks", "runs", "follow"])
def test_a_cut_is_not_followed(
    clip: list[Frame], monkeypatch: pytest.MonkeyPatch, tracking: Tracking
) -> None:
    # Frame 2 cuts to a picture with no face: the landmarks still fit something plausible
    # where the face was, but it no longer looks like the face, and HOG finds no face.
    h, w = clip[0].image.shape[:2]
    for cut in (gradient_bgr(w, h), np.ascontiguousarray(no_face_bgr()[:h, :w])):
        frames = [clip[0], clip[1], Frame(2, 0.08, cut), clip[3]]
        got = track_faces(frames, make_detector("dlib"), 96, tracking)
        assert [f.frame_index for f in got] == [0, 1, 3]
    # The appearance check is what rejects the cut: without it, the cut is "followed".
    monkeypatch.setattr(tracking_mod, "FOLLOW_MIN_NCC", -2.0)
    got = track_faces(frames, make_detector("dlib"), 96, tracking)
    assert [f.frame_index for f in got] == [0, 1, 2, 3]


def test_unknown_tracking_is_refused(clip: list[Frame]) -> None:
    with pytest.raises(ValueError, match="tracking"):
        track_faces(clip[:1], make_detector("dlib"), 96, "optical-flow")


def test_tracking_in_cache_key(tmp_path: Path) -> None:
    # How settings and the bundle choose the tracking: test_sampling (one test for both).
    target = str(tmp_path / "x.mp4")
    plain, follow = ExtractConfig(FAMILIES), ExtractConfig(FAMILIES, tracking="landmarks")
    assert cache_key(target, plain, Recipe()) != cache_key(target, follow, Recipe())


def write_one_keyframe_video(path: Path, frames: list[np.ndarray]) -> Path:
    """H.264 with a single keyframe (no scene-cut keyframes), as many phone clips are."""
    return write_video(path, frames, keyint=1000)


def test_segments_fall_back_to_spread_when_the_runs_miss_the_face(tmp_path: Path) -> None:
    # A 24-frame title card, then the face: the one run from the only keyframe sees no face.
    intro = [gradient_bgr(640, 480)] * 24
    clip = write_one_keyframe_video(tmp_path / "intro.mp4", intro + face_frames(40))
    runs = list(iter_video(clip, 8, SampleLimits(), "segments"))
    assert [f.index for f in runs] == list(range(8))
    assert track_faces(runs, make_detector("dlib"), 128) == []
    cfg = ExtractConfig(FAMILIES, frames=8, sampling="segments", tracking="landmarks")
    ex = extract(str(clip), Settings(), cfg)
    assert ex.faces_found >= 5  # spread samples from frame 24 on show the face


def test_segments_keep_their_runs_when_the_face_is_there(tmp_path: Path) -> None:
    clip = write_one_keyframe_video(tmp_path / "face.mp4", face_frames(40))
    cfg = ExtractConfig(FAMILIES, frames=8, sampling="segments", tracking="landmarks")
    ex = extract(str(clip), Settings(), cfg)
    assert ex.faces_found == 8
    spread = extract(str(clip), Settings(), ExtractConfig(FAMILIES, frames=8))
    # Runs and spread samples are different frames, hence different measures.
    assert not np.allclose(ex.frame_matrix, spread.frame_matrix)


def test_one_spelling_of_the_reading_choices(tmp_path: Path) -> None:
    """Settings, CLI options, frames and faces accept the same choices, and refuse others."""
    import pydantic

    from models.samples import sample_frames, write_video
    from scheduler.cli import main

    for s in SAMPLINGS:
        assert Settings(sampling=s).sampling == s
    for t in TRACKINGS:
        assert Settings(tracking=t).tracking == t
    with pytest.raises(pydantic.ValidationError):
        Settings(sampling="random")
    with pytest.raises(pydantic.ValidationError):
        Settings(tracking="optical-flow")
    with pytest.raises(ValueError, match="unknown tracking"):
        track_faces([], make_detector("haar"), 64, "optical-flow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown sampling"):
        clip = write_video(tmp_path / "c.mp4", sample_frames(8, size=(160, 120)), fps=25)
        list(iter_video(clip, 4, SampleLimits(), "random"))  # type: ignore[arg-type]
    scan = main.commands["scan"]
    choices = {
        p.name: tuple(p.type.choices) for p in scan.params if p.name in ("sampling", "tracking")
    }
    assert choices == {"sampling": SAMPLINGS, "tracking": TRACKINGS}


def test_reframe_moves_the_crop_but_tracking_follows_the_detection(clip: list[Frame]) -> None:
    """Box jitter edits only what is cut: the tracker keeps the unedited boxes, so a large
    shift neither drifts from frame to frame nor loses the face."""
    det = make_detector("dlib")

    def far(frame: Frame, d: Detection) -> Detection:
        return Detection(jitter_box(d.box, (0.4, -0.3), np.log(1.5)), d.landmarks)

    plain = track_faces(clip, det, 128)
    moved = track_faces(clip, det, 128, reframe=far)
    assert [f.frame_index for f in moved] == [f.frame_index for f in plain] == list(range(12))
    for a, b in zip(plain, moved, strict=True):
        assert b.box == jitter_box(a.box, (0.4, -0.3), np.log(1.5))
        assert not np.array_equal(a.crop, b.crop)


def test_box_jitter_is_drawn_per_clip_and_frame() -> None:
    box = Box(100, 100, 50, 50)
    # centre (125, 125) moved by (0.1, -0.2) x 50, side doubled
    assert jitter_box(box, (0.1, -0.2), float(np.log(2.0))) == Box(80, 65, 100, 100)
    d = Detection(box, np.zeros((68, 2), np.float32))
    img = np.zeros((4, 4, 3), np.uint8)
    f0, f1 = Frame(0, 0.0, img), Frame(1, 0.04, img)
    j = BoxJitter(7, 0.05, 0.1)
    assert j(f0, d).box == BoxJitter(7, 0.05, 0.1)(f0, d).box  # reproducible
    assert j(f0, d).box != j(f1, d).box  # a new draw per frame
    assert j(f0, d).box != BoxJitter(8, 0.05, 0.1)(f0, d).box  # and per clip
    assert j(f0, d).landmarks is d.landmarks
    assert BoxJitter(7, 0.0, 0.0)(f1, d).box == box
    boxes = [BoxJitter(s, 0.05, 0.1)(f0, d).box for s in range(400)]
    dx = np.array([b.center[0] - 125 for b in boxes]) / 50
    logw = np.log([b.w / 50 for b in boxes])
    assert abs(dx.std() - 0.05) < 0.01 and abs(logw.std() - 0.1) < 0.02


def test_box_jitter_in_cache_key() -> None:
    cfg = ExtractConfig(FAMILIES)
    plain = Recipe(blend_seed=3)
    a, b = plain.jittered("x.mp4", (0.03, 0.1)), plain.jittered("y.mp4", (0.03, 0.1))
    assert plain.jittered("x.mp4", None) == plain
    assert a.jitter is not None and a.jitter.seed != b.jitter.seed  # type: ignore[union-attr]
    keys = {cache_key("x.mp4", cfg, r) for r in (plain, a, plain.jittered("x.mp4", (0.03, 0.2)))}
    assert len(keys) == 3
    assert cache_key("x.mp4", cfg, a) == cache_key(
        "x.mp4", cfg, plain.jittered("x.mp4", (0.03, 0.1))
    )


def test_measure_every_measures_every_kth_face_of_the_same_track(tmp_path: Path) -> None:
    """The frame families read the 1st, 3rd, ... face; the faces themselves are the same
    (every one still followed), and so are their frame vectors."""
    clip = write_video(tmp_path / "face.mp4", face_frames(40), keyint=10)
    base = ExtractConfig(FAMILIES, frames=8, sampling="segments", tracking="follow")
    every = extract(str(clip), Settings(), base)
    second = extract(str(clip), Settings(), replace(base, measure_every=2))
    assert every.faces_found == second.faces_found == 8
    assert [f.frame_index for f in second.faces] == [f.frame_index for f in every.faces][::2]
    assert np.array_equal(second.frame_matrix, every.frame_matrix[::2])
    assert not np.array_equal(second.vector, every.vector)  # the summary is over 4 faces
