"""The optional "segments" sampling: runs of consecutive frames that start at keyframes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from _media import index_frame, read_index, write_frames_folder, write_image, write_video

from common.av_frames import AvCapture
from common.decode_stats import collect_decode_stats
from common.extract import ExtractConfig
from common.features import FAMILIES, FAMILY_NAMES, FEATURE_VERSION
from common.frame_indices import segment_indices
from common.frames import SampleLimits, iter_frames, iter_video
from common.media import LocalMedia
from common.settings import Settings
from models.bundle import ModelBundle
from models.featurize import Recipe, cache_key, content_key
from models.scanner import config_for


def write_gop_video(path: Path, n: int, keyint: int) -> Path:
    """Index-barcode H.264 clip with a keyframe exactly every ``keyint`` frames (B-frames on)."""
    return write_video(path, [index_frame(i) for i in range(n)], keyint=keyint, bframes=2)


def runs(indices: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in indices:
        if out and i == out[-1][-1] + 1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def read(path: Path, n: int, sampling: str) -> tuple[list[int], int]:
    with collect_decode_stats() as stats:
        frames = list(iter_video(path, n, SampleLimits(), sampling))
    for f in frames:  # the frame really is the one it claims to be
        assert read_index(f.image) == f.index
    return [f.index for f in frames], stats.frames_decoded


@pytest.fixture(scope="module")
def gop25(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gop_video(tmp_path_factory.mktemp("seg") / "gop25.mp4", 200, 25)


def test_segment_indices_pure() -> None:
    keys = list(range(0, 1000, 250))
    assert runs(segment_indices(1000, 16, keys)) == [
        list(range(k, k + 4)) for k in (0, 250, 500, 750)
    ]
    # Many keyframes: the one at or before each of 4 spread targets.
    got = runs(segment_indices(1000, 16, range(0, 1000, 50)))
    assert [r[0] for r in got] == [100, 350, 600, 850] and all(len(r) == 4 for r in got)
    # Fewer keyframes than segments: longer runs from the available ones.
    assert runs(segment_indices(400, 16, [0, 250])) == [list(range(8)), list(range(250, 258))]
    assert segment_indices(300, 16, [0]) == list(range(16))
    # A run cannot cross the next keyframe or the end; the others take the rest.
    assert runs(segment_indices(1000, 16, [0, 990])) == [list(range(8)), list(range(990, 998))]
    assert segment_indices(20, 16, [0, 3]) == list(range(16))  # 3 from 0, 13 from 3
    assert segment_indices(10, 16, [0, 5]) == list(range(10))
    assert segment_indices(0, 16, [0]) == []
    assert segment_indices(100, 4, []) == [12, 37, 62, 87]  # no keyframes: spread


def test_segments_runs_start_at_keyframes_and_decode_less(gop25: Path) -> None:
    cap = AvCapture(str(gop25))
    keyframes = cap.keyframes
    cap.release()
    assert keyframes == list(range(0, 200, 25))
    idx, decoded = read(gop25, 16, "segments")
    assert len(idx) == 16
    got = runs(idx)
    assert len(got) == 4 and all(len(r) == 4 for r in got)
    assert all(r[0] in keyframes for r in got)
    assert got[0][0] < 50 and got[-1][0] >= 150  # spread over the clip
    spread_idx, spread_decoded = read(gop25, 16, "spread")
    assert len(spread_idx) == 16 and len(runs(spread_idx)) == 16
    # Runs from keyframes need no reference chain: at most a reference or two past each run.
    assert decoded <= 16 + 4 * 2
    assert decoded < spread_decoded


def test_segments_with_one_keyframe_is_one_run(tmp_path: Path) -> None:
    clip = write_gop_video(tmp_path / "gop1000.mp4", 120, 1000)
    idx, decoded = read(clip, 16, "segments")
    assert idx == list(range(16))
    assert decoded <= 18
    assert read(clip, 16, "spread")[1] > decoded


def test_default_is_spread(gop25: Path) -> None:
    a = [f.index for f in iter_video(gop25, 16, SampleLimits())]
    assert a == read(gop25, 16, "spread")[0]
    # Unset means "as the model was trained"; a bundle that records nothing is spread.
    assert Settings().sampling is None and ExtractConfig(FAMILIES).sampling == "spread"
    with pytest.raises(ValueError):
        Settings(sampling="random")


def test_images_and_folders_fall_back_to_spread(tmp_path: Path) -> None:
    folder = write_frames_folder(tmp_path / "frames", [index_frame(i) for i in range(40)])
    media = LocalMedia(path=folder, kind="frames")
    seg = [f.index for f in iter_frames(media, 8, SampleLimits(), "segments")]
    assert seg == [f.index for f in iter_frames(media, 8, SampleLimits())]
    assert len(runs(seg)) == 8
    img = write_image(tmp_path / "one.png", index_frame(3))
    got = list(iter_frames(LocalMedia(path=img, kind="image"), 8, SampleLimits(), "segments"))
    assert len(got) == 1


def test_cache_key_sampling(gop25: Path, tmp_path: Path) -> None:
    folder = write_frames_folder(tmp_path / "frames", [index_frame(i) for i in range(4)])
    spread, seg = ExtractConfig(FAMILIES), ExtractConfig(FAMILIES, sampling="segments")
    r = Recipe()
    # Spread keys are as before the option existed; segments keys differ for videos only.
    assert cache_key(str(gop25), spread, r) != cache_key(str(gop25), seg, r)
    assert cache_key(str(folder), spread, r) == cache_key(str(folder), seg, r)
    old = {  # the key's fields before the sampling option existed
        "fv": FEATURE_VERSION,
        "det": "dlib",
        "crop": 128,
        "frames": 16,
        "blend": None,
        "content": content_key(str(gop25)),
    }
    want = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()
    assert cache_key(str(gop25), spread, r) == want


@pytest.mark.parametrize(
    ("key", "default", "other"),
    [("sampling", "spread", "segments"), ("tracking", "detect", "landmarks")],
)
def test_the_model_reads_as_trained_unless_a_setting_says(
    key: str, default: str, other: str, caplog: pytest.LogCaptureFixture
) -> None:
    meta = {"families": list(FAMILY_NAMES), "temporal": True, "threshold": 0.5}
    assert getattr(config_for(ModelBundle(None, meta), Settings()), key) == default
    assert getattr(config_for(ModelBundle(None, meta), Settings(**{key: other})), key) == other
    caplog.clear()
    trained = {**meta, key: other}
    assert getattr(config_for(ModelBundle(None, trained), Settings()), key) == other
    assert not caplog.records  # as trained: nothing to warn about
    # An explicit setting wins over the model's own reading, and says so.
    assert getattr(config_for(ModelBundle(None, trained), Settings(**{key: default})), key) == (
        default
    )
    assert f"{key}={default} overrides model" in caplog.text


@pytest.mark.parametrize(
    ("key", "setting", "trained", "other"),
    [("detector", "face_detector", "dlib", "haar"), ("crop_size", "crop_size", 128, 96)],
)
def test_the_model_keeps_what_its_features_depend_on(
    key: str, setting: str, trained: object, other: object, caplog: pytest.LogCaptureFixture
) -> None:
    meta = {"families": list(FAMILY_NAMES), "temporal": True, "threshold": 0.5}
    # A bundle that records none: the setting, else dlib at 128 px.
    assert getattr(config_for(ModelBundle(None, meta), Settings()), key) == trained
    assert getattr(config_for(ModelBundle(None, meta), Settings(**{setting: other})), key) == other
    # A bundle that records one keeps it, and says a differing setting is ignored.
    caplog.clear()
    recorded = ModelBundle(None, {**meta, key: trained})
    assert getattr(config_for(recorded, Settings(**{setting: trained})), key) == trained
    assert not caplog.records
    assert getattr(config_for(recorded, Settings(**{setting: other})), key) == trained
    assert f"{key}={other} ignored" in caplog.text
