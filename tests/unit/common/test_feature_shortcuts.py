"""The shortcuts the families take for speed give the plain computation's numbers, to the bit.

Faces come from a PyAV-written clip of the astronaut, read and tracked as a scan reads them.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _media import write_face_video

import common.features.surround as surround
from common.faces import make_detector, track_faces
from common.features import CLIP_FAMILIES, FAMILIES, clip_vector, frame_vector
from common.features.regions import INNER, OUTER, regions, segment_mean
from common.frames import SampleLimits, iter_video
from common.types import Face, FaceTrack


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> list[Face]:
    clip = write_face_video(tmp_path_factory.mktemp("shortcuts") / "face.mp4", n=24)
    frames = list(iter_video(clip, 16, SampleLimits(), "segments"))
    found = track_faces(frames, make_detector("dlib"), 128, "landmarks")
    assert len(found) == len(frames) == 16
    return found


def test_segment_mean_is_the_boolean_mask_mean(faces: list[Face]) -> None:
    for f in faces:
        reg = regions(f.mask)
        lab = cv2.cvtColor(f.crop, cv2.COLOR_BGR2LAB).astype(np.float32)
        grey = lab[..., 0] * np.float32(1 / 255)
        for s, mask in ((INNER, reg.inner), (OUTER, reg.outer)):
            assert np.array_equal(segment_mean(lab, reg, s), lab[mask].mean(axis=0))
            assert segment_mean(grey, reg, s) == grey[mask].mean()


def test_surround_takes_absolute_values_after_gathering(
    faces: list[Face], monkeypatch: pytest.MonkeyPatch
) -> None:
    """|r| of the gathered pixels and b0^2 of the signed ones: as |r| of the whole maps."""
    fast = [surround.surround_features(f.crop, f.mask) for f in faces]
    signed = surround._maps
    monkeypatch.setattr(surround, "_maps", lambda crop: [np.abs(m) for m in signed(crop)])
    plain = [surround.surround_features(f.crop, f.mask) for f in faces]
    assert np.abs(np.array(fast)).sum() > 0
    assert all(np.array_equal(a, b) for a, b in zip(fast, plain, strict=True))


def test_vectors_do_not_depend_on_what_the_memos_hold(faces: list[Face]) -> None:
    """A scan's order (every frame, then the clip families over the same masks) and each face
    measured on its own, with the region memo emptied before each call, agree to the bit."""
    frames = np.stack([frame_vector(f.crop, f.mask, FAMILIES) for f in faces])
    clip = clip_vector(FaceTrack.of(faces), CLIP_FAMILIES)
    alone = []
    for f in faces:
        regions._local.__dict__.clear()
        alone.append(frame_vector(f.crop, f.mask, FAMILIES))
    regions._local.__dict__.clear()
    assert np.array_equal(frames, np.stack(alone))
    assert np.abs(clip).sum() > 0
    assert np.array_equal(clip, clip_vector(FaceTrack.of(faces), CLIP_FAMILIES))
