"""From a target to feature vectors: fetch, sample frames, find the face, measure it.

The one code path shared by scanning (embedded and Celery) and training, so a model is
always fed vectors made exactly as at training time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from common.errors import NoFace, ScanError
from common.faces import FaceDetector, Reframe, background_faces, make_detector, track_faces
from common.features import FeatureFamily, frame_vector, video_vector
from common.frames import SampleLimits, iter_frames
from common.media import LocalMedia, open_media
from common.settings import Settings
from common.types import Detector, Face, Frame, Sampling, Tracking


@dataclass(frozen=True, slots=True)
class ExtractConfig:
    """What the model was trained with: crops and detector must match at scan time."""

    families: tuple[FeatureFamily, ...]
    temporal: bool = True
    detector: Detector = "dlib"
    crop_size: int = 128
    frames: int = 16
    # "face" (the detected face) or "background": a same-size no-face patch of each frame,
    # for the shortcut control of evaluation (see common.faces.background_faces).
    region: str = "face"
    # A model scans as it was trained: both are recorded in its bundle.
    sampling: Sampling = "spread"
    tracking: Tracking = "detect"


@dataclass(slots=True)
class Extraction:
    frame_matrix: np.ndarray  # (faces, D) frame vectors
    vector: np.ndarray  # video vector
    frames_used: int
    faces_found: int
    sha256: str | None
    timings: dict[str, float] = field(default_factory=dict)


class _Timed:
    """Accumulates wall time per stage; the generator stages interleave, so time by pulls."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.t[stage] = self.t.get(stage, 0.0) + seconds

    def pull(self, stage: str, it: Iterator[Frame]) -> Iterator[Frame]:
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.add(stage, time.perf_counter() - t0)
                return
            self.add(stage, time.perf_counter() - t0)
            yield item


FaceTransform = Callable[[Face], Face]


def faces_to_matrix(faces: Sequence[Face], cfg: ExtractConfig) -> np.ndarray:
    return np.stack([frame_vector(f.crop, f.mask, cfg.families) for f in faces])


def _sample_faces(
    media: LocalMedia,
    cfg: ExtractConfig,
    sampling: Sampling,
    limits: SampleLimits,
    det: FaceDetector,
    timer: _Timed,
    reframe: Reframe | None = None,
) -> tuple[list[Frame], list[Face]]:
    frames = list(timer.pull("decode", iter_frames(media, cfg.frames, limits, sampling)))
    t0 = time.perf_counter()
    faces = track_faces(frames, det, cfg.crop_size, cfg.tracking, reframe)
    timer.add("faces", time.perf_counter() - t0)
    return frames, faces


def extract(
    target: str,
    settings: Settings,
    cfg: ExtractConfig,
    *,
    detector: FaceDetector | None = None,
    transform: FaceTransform | None = None,
    reframe: Reframe | None = None,
) -> Extraction:
    """Run the stages for one target. Raises ScanError subclasses on bad input.

    ``transform`` edits each face crop before it is measured (used to make self-blended
    pseudo-fakes from real clips at training time); ``reframe`` edits each face box before
    its crop is cut (box jitter at training time).
    """
    det = detector or make_detector(cfg.detector)
    timer = _Timed()
    deadline = time.monotonic() + settings.timeout_s
    limits = SampleLimits(settings.max_pixels, settings.max_duration_s, deadline)
    t0 = time.perf_counter()
    with open_media(target, settings) as media:
        timer.add("fetch", time.perf_counter() - t0)
        frames, faces = _sample_faces(media, cfg, cfg.sampling, limits, det, timer, reframe)
        if cfg.sampling != "spread" and media.kind == "video" and 2 * len(faces) < len(frames):
            # Runs from keyframes may all fall where no face is (a title card, a clip with
            # one keyframe and an intro): the spread sample then decides what is kept.
            try:
                spread = _sample_faces(media, cfg, "spread", limits, det, timer, reframe)
            except ScanError:  # e.g. damage past the runs: keep what the runs gave
                spread = frames, faces
            if len(spread[1]) > len(faces):
                frames, faces = spread
        t0 = time.perf_counter()
        if cfg.region == "background":
            located = faces
            faces = background_faces(frames, located, cfg.crop_size)
            if located and not faces:
                raise NoFace("no face-free corner of the frames for the background control")
        elif cfg.region != "face":
            raise ValueError(f"unknown extraction region {cfg.region!r} (face | background)")
        timer.add("faces", time.perf_counter() - t0)
    if not faces:
        raise NoFace(f"no face found in {len(frames)} sampled frames")
    if transform is not None:
        faces = [transform(f) for f in faces]
    t0 = time.perf_counter()
    matrix = faces_to_matrix(faces, cfg)
    vector = video_vector(matrix, cfg.families, cfg.temporal)
    timer.add("features", time.perf_counter() - t0)
    return Extraction(matrix, vector, len(frames), len(faces), media.sha256, timer.t)
