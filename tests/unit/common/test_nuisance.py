"""Nuisance measures of a clip: what the extraction reports about frame size, length, bytes
and faces, and how the feature cache keeps them beside its matrices."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _media import face_frames, write_frames_folder, write_video

from common.extract import ExtractConfig, extract
from common.features import FAMILIES
from common.nuisance import Nuisance, inter_ocular_px
from common.settings import Settings
from common.types import Box, Face
from models.featurize import cache_key, featurize, nuisance_path
from models.manifest import Item

CFG = ExtractConfig(families=FAMILIES, frames=6)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("n") / "face.mp4", face_frames(30), fps=30)


def test_extraction_reports_the_clip_and_its_face(clip: Path) -> None:
    n = extract(str(clip), Settings(), CFG).nuisance
    assert n is not None
    assert (n.width, n.height, n.fps, n.frames_total) == (640, 480, 30.0, 30)
    assert n.duration_s == pytest.approx(1.0)
    assert n.bytes == clip.stat().st_size
    assert n.frames_decoded == 6 and n.faces == 6
    # The astronaut's face (94 px in a 320 px crop of the photo, shown 408 px tall) is about
    # 120 px; dlib's box is a little tighter. Her eyes are about 0.4 of that apart.
    assert 90 < n.face_px < 160
    assert 0.3 < n.iod_px / n.face_px < 0.6
    assert 0.4 < n.face_x < 0.6 and 0.25 < n.face_y < 0.6


def test_frame_folder_has_bytes_and_count_but_no_clock(tmp_path: Path) -> None:
    folder = write_frames_folder(tmp_path / "clip", face_frames(5, size=(480, 360)), ".jpg")
    n = extract(str(folder), Settings(), ExtractConfig(families=FAMILIES, frames=3)).nuisance
    assert n is not None
    assert (n.width, n.height, n.frames_total, n.frames_decoded) == (480, 360, 5, 3)
    assert n.bytes == sum(p.stat().st_size for p in folder.iterdir())
    assert math.isnan(n.fps) and math.isnan(n.duration_s)


def test_inter_ocular_distance_is_in_frame_pixels() -> None:
    # A 100 px box: the 128 px crop spans 160 frame px (MARGIN 1.6), so 0.8 crop px per
    # frame px. Eye centres 32 crop px apart are 40 frame px apart.
    lm = np.zeros((68, 2), np.float32)
    lm[36:42] = (48.0, 60.0)
    lm[42:48] = (80.0, 60.0)
    face = Face(
        0, Box(10, 10, 100, 100), np.zeros((128, 128, 3), np.uint8), np.zeros((128, 128)), lm
    )
    assert inter_ocular_px(face) == pytest.approx(40.0)
    assert math.isnan(inter_ocular_px(Face(0, face.box, face.crop, face.mask, None)))


def test_cache_keeps_the_measures_beside_the_matrix(clip: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    item = Item(str(clip), "real", "p0")
    first = featurize([item], Settings(), CFG, cache=cache, nuisance=True)[0]
    matrix_path = cache / f"{cache_key(item.target, CFG, first.recipe)}.npy"
    side = nuisance_path(matrix_path)
    assert first.nuisance is not None and side.is_file()
    assert Nuisance.from_json(json.loads(side.read_text())) == first.nuisance

    # A cache written before the measures existed: the matrix file stays untouched, the
    # measures are filled in by reading the clip once more.
    side.unlink()
    stamp = (matrix_path.read_bytes(), matrix_path.stat().st_mtime_ns)
    again = featurize([item], Settings(), CFG, cache=cache, nuisance=True)[0]
    assert again.nuisance == first.nuisance and side.is_file()
    assert (matrix_path.read_bytes(), matrix_path.stat().st_mtime_ns) == stamp
    np.testing.assert_array_equal(again.matrix, first.matrix)

    # Training does not ask for them: a cache hit reads nothing more.
    side.unlink()
    plain = featurize([item], Settings(), CFG, cache=cache)[0]
    assert plain.nuisance is None and not side.exists()
