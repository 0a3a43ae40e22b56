"""From a target to feature vectors: fetch, sample frames, find the face, measure it.

The one code path shared by scanning (embedded and Celery) and training, so a model is
always fed vectors made exactly as at training time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np

from common.errors import NoFace, ScanError
from common.faces import FaceDetector, Reframe, background_faces, iter_faces, make_detector
from common.features import (
    ClipFamily,
    FeatureFamily,
    clip_vector,
    frame_vector,
    video_layout,
    video_vector,
)
from common.features.memo import sharing
from common.frames import SampleLimits, iter_frames
from common.media import LocalMedia, open_media
from common.nuisance import Nuisance, measure, media_bytes
from common.settings import Settings
from common.types import ClipInfo, Detector, Face, FaceTrack, Frame, Sampling, Tracking


@dataclass(frozen=True, slots=True)
class ExtractConfig:
    """What the model was trained with: crops and detector must match at scan time."""

    families: tuple[FeatureFamily, ...]
    temporal: bool = True
    # Frame families by their mean and spread over frames (False: the mean alone).
    spread: bool = True
    detector: Detector = "dlib"
    crop_size: int = 128
    frames: int = 16
    # "face" (the detected face) or "background": a same-size no-face patch of each frame,
    # for the shortcut control of evaluation (see common.faces.background_faces).
    region: str = "face"
    # A model scans as it was trained: both are recorded in its bundle.
    sampling: Sampling = "spread"
    tracking: Tracking = "detect"
    # Clip families (over the face track), appended after the frame families' summary.
    clips: tuple[ClipFamily, ...] = ()
    # The frame families measure every k-th face of the track (the 1st, (k+1)th, ...); every
    # face is still followed, and the clip families read them all (docs/speed.md, rule (d)).
    measure_every: int = 1

    def layout(self) -> dict[str, list[int]]:
        """Column indices of each family in the video vector this config makes."""
        return video_layout(self.families, self.temporal, self.clips, spread=self.spread)


@dataclass(slots=True)
class Extraction:
    frame_matrix: np.ndarray  # (faces, D) frame vectors
    vector: np.ndarray  # video vector
    clip: np.ndarray  # the clip families' vector (empty without clip families)
    frames_used: int
    faces_found: int
    sha256: str | None
    timings: dict[str, float] = field(default_factory=dict)
    # Face size, frame size, length...: for evaluations only, never a feature.
    nuisance: Nuisance | None = None
    # The face crops measured (after any transform), in frame order: what explain pages draw.
    faces: list[Face] = field(default_factory=list)


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


@dataclass(slots=True)
class _Sample:
    """What one sampling's decode left: its count and first picture's shape, and the
    pictures themselves only while no face was found in them (a fallback pass reads them
    again) or when the caller needs them all (the background control)."""

    count: int = 0
    shape: tuple[int, ...] = ()
    kept: list[Frame] | None = field(default_factory=list)


class _Sampler:
    """Frames of one target per sampling, decoded once, and their main faces.

    The face tracker reads the decoder's frames one at a time, so a scan holds one picture
    rather than the whole sample (a worker's working set; docs/speed.md). The pictures are
    kept only as long as a fallback pass may need them again: until the first face is found.
    """

    def __init__(
        self,
        media: LocalMedia,
        cfg: ExtractConfig,
        limits: SampleLimits,
        det: FaceDetector,
        timer: _Timed,
        reframe: Reframe | None,
    ) -> None:
        self.media, self.cfg, self.limits, self.det = media, cfg, limits, det
        self.timer, self.reframe = timer, reframe
        self._samples: dict[Sampling, _Sample] = {}
        self.info = ClipInfo()  # what the reader learnt of the clip (nuisance measures)
        self.keep_all = cfg.region == "background"  # the control cuts patches from every frame

    def _feed(self, sample: _Sample, source: Iterator[Frame]) -> Iterator[Frame]:
        for frame in source:
            if not sample.count:
                sample.shape = frame.image.shape
            sample.count += 1
            if sample.kept is not None:
                sample.kept.append(frame)
            yield frame

    def faces(self, sampling: Sampling, small: bool) -> tuple[_Sample, list[Face]]:
        """The sample's main faces; a sample already read is not decoded again while its
        pictures are kept (they are whenever it gave no face)."""
        sample = self._samples.get(sampling)
        if sample is not None and sample.kept is not None:
            fed: Iterator[Frame] = (frame for frame in sample.kept)
        else:
            sample = _Sample()
            frames = iter_frames(self.media, self.cfg.frames, self.limits, sampling, self.info)
            fed = self._feed(sample, self.timer.pull("decode", frames))
        size, tracking = self.cfg.crop_size, self.cfg.tracking
        t0, decoding = time.perf_counter(), self.timer.t.get("decode", 0.0)
        faces: list[Face] = []
        with closing(fed):  # a decoder error or a tracker error still releases the capture
            for face in iter_faces(fed, self.det, size, tracking, self.reframe, small=small):
                faces.append(face)
                if not self.keep_all:
                    sample.kept = None  # a face: no fallback pass reads these pictures again
        decoded = self.timer.t.get("decode", 0.0) - decoding
        self.timer.add("faces", time.perf_counter() - t0 - decoded)
        self._samples[sampling] = sample
        return sample, faces

    def best(self, small: bool) -> tuple[_Sample, list[Face]]:
        """The model's sampling; the spread sample instead when it shows the face more."""
        sample, faces = self.faces(self.cfg.sampling, small)
        runs = self.cfg.sampling != "spread" and self.media.kind == "video"
        if runs and 2 * len(faces) < sample.count:
            # Runs from keyframes may all fall where no face is (a title card, a clip with
            # one keyframe and an intro): the spread sample then decides what is kept.
            try:
                spread = self.faces("spread", small)
            except ScanError:  # e.g. damage past the runs: keep what the runs gave
                spread = sample, faces
            if len(spread[1]) > len(faces):
                sample, faces = spread
        return sample, faces


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
        sampler = _Sampler(media, cfg, limits, det, timer, reframe)
        sample, faces = sampler.best(small=False)
        if not faces:
            # No face at the usual sizes anywhere: look again for small ones in the same
            # frames (decoded once). Only here, so that clips found before keep their scores.
            sample, faces = sampler.best(small=True)
        nbytes = media_bytes(media.path)
        nuisance = measure(sampler.info, nbytes, sample.count, sample.shape, faces)
        t0 = time.perf_counter()
        if cfg.region == "background":
            located = faces
            faces = background_faces(sample.kept or [], located, cfg.crop_size)
            if located and not faces:
                raise NoFace("no face-free corner of the frames for the background control")
        elif cfg.region != "face":
            raise ValueError(f"unknown extraction region {cfg.region!r} (face | background)")
        timer.add("faces", time.perf_counter() - t0)
    if not faces:
        raise NoFace(f"no face found in {sample.count} sampled frames")
    if transform is not None:
        faces = [transform(f) for f in faces]
    t0 = time.perf_counter()
    measured = faces[:: cfg.measure_every]
    # The clip families measure the same crops and masks again: the memos keep what the frame
    # families derived from each of them (regions...) until the clip vector is made.
    with sharing(len(faces) if cfg.clips else 1):
        matrix = faces_to_matrix(measured, cfg)
        clip = clip_vector(FaceTrack.of(faces), cfg.clips) if cfg.clips else np.zeros(0, np.float32)
    vector = video_vector(
        matrix, cfg.families, cfg.temporal, clip if cfg.clips else None, spread=cfg.spread
    )
    timer.add("features", time.perf_counter() - t0)
    return Extraction(
        matrix,
        vector,
        clip,
        sample.count,
        len(faces),
        media.sha256,
        timer.t,
        nuisance=nuisance,
        faces=measured,
    )
