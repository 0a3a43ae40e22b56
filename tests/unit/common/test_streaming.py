"""The face stage streams: a scan holds one decoded picture at a time, and a clip whose
first pass finds no face is still decoded only once (the fallback passes replay it)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from _media import face_frames, no_face_bgr, small_face_frames, write_video

import common.extract
from common.errors import NoFace
from common.extract import ExtractConfig, extract
from common.faces import iter_faces, make_detector
from common.features import FAMILIES
from common.settings import Settings
from common.types import Frame


class Watched:
    """Wraps ``common.extract.iter_frames``: counts decodes and, at each frame it hands
    out, how many pictures it handed out before are still alive somewhere."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.decodes = 0
        self.alive: list[int] = []
        self._refs: list[weakref.ref] = []
        real = common.extract.iter_frames

        def watched(*args: object, **kw: object) -> Iterator[Frame]:
            self.decodes += 1
            for frame in real(*args, **kw):  # type: ignore[arg-type]
                self.alive.append(sum(r() is not None for r in self._refs))
                self._refs.append(weakref.ref(frame.image))
                yield frame

        monkeypatch.setattr(common.extract, "iter_frames", watched)


def test_faces_are_yielded_as_the_frames_come() -> None:
    pulled = []

    def frames() -> Iterator[Frame]:
        for i, img in enumerate(face_frames(6)):
            pulled.append(i)
            yield Frame(i, i / 25, img)

    faces = iter_faces(frames(), make_detector("dlib"), 128, "landmarks")
    first = next(faces)
    assert first.frame_index == 0 and pulled == [0]  # one frame read for the first face
    assert [f.frame_index for f in faces] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("sampling", ["spread", "segments"])
def test_a_scan_holds_one_picture_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sampling: str
) -> None:
    clip = write_video(tmp_path / "face.mp4", face_frames(48), keyint=12)
    watched = Watched(monkeypatch)
    cfg = ExtractConfig(FAMILIES, frames=8, sampling=sampling, tracking="landmarks")  # type: ignore[arg-type]
    ex = extract(str(clip), Settings(), cfg)
    assert ex.faces_found == ex.frames_used == 8 and watched.decodes == 1
    # The one before may still be bound while the next is decoded; a list would hold all 7.
    assert max(watched.alive) <= 1, watched.alive


def test_no_face_is_decoded_once_for_all_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = write_video(tmp_path / "cup.mp4", [no_face_bgr()] * 20)
    watched = Watched(monkeypatch)
    with pytest.raises(NoFace, match="8 sampled frames"):
        extract(str(clip), Settings(), ExtractConfig(FAMILIES, frames=8))
    assert watched.decodes == 1  # the small-face pass read the kept pictures again


def test_the_small_face_pass_reads_the_kept_pictures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = write_video(tmp_path / "wide.mp4", small_face_frames(8, side=44))
    watched = Watched(monkeypatch)
    ex = extract(str(clip), Settings(), ExtractConfig(FAMILIES, frames=4))
    assert watched.decodes == 1
    assert ex.faces_found >= 3 and ex.frames_used == 4
    assert ex.nuisance is not None and ex.nuisance.frames_decoded == 4
