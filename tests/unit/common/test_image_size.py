"""Image sizes from headers: read before any decoder allocates pixels, for every format
OpenCV decodes here; a decompression bomb is refused without being decoded."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from _media import astronaut_bgr, write_png_bomb

import common.frames as frames_mod
from common.errors import TooLarge, Unreadable
from common.frames import SampleLimits, iter_frames, iter_images
from common.image_size import BombError, image_size
from common.media import LocalMedia

W, H = 96, 64  # not square: a swapped width and height would show
FLOAT_FORMATS = {".pfm", ".hdr"}
# Every format this OpenCV build both writes and reads (OpenEXR is off in the wheels).
FORMATS = [".png", ".jpg", ".webp", ".bmp", ".tif", ".jp2", ".ppm", ".pfm", ".ras", ".hdr"]
FORMATS += [".avif", ".gif"]


def _write(path: Path, w: int = W, h: int = H) -> Path:
    img = cv2.resize(astronaut_bgr(), (w, h), interpolation=cv2.INTER_AREA)
    if path.suffix in FLOAT_FORMATS:
        img = img.astype(np.float32) / 255
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok, path
    path.write_bytes(buf.tobytes())
    return path


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any decode fails the test: the refusal must come from the header alone."""

    def imdecode(*args: object) -> None:
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(frames_mod.cv2, "imdecode", imdecode)


@pytest.mark.parametrize("suffix", FORMATS)
def test_header_size_is_the_decoded_size(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"a{suffix}")
    decoded = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.shape[:2] == (H, W)
    assert image_size(path) == (W, H)


@pytest.mark.parametrize("suffix", FORMATS)
def test_over_the_limit_is_refused_from_the_header(
    tmp_path: Path, suffix: str, no_decoding: None
) -> None:
    path = _write(tmp_path / f"a{suffix}")
    with pytest.raises(TooLarge) as exc:
        list(iter_images([path], 1, SampleLimits(max_pixels=W * H - 1)))
    assert exc.value.code == "frame_too_large" and f"{W}x{H}" in exc.value.message


def test_the_png_bomb_is_refused_without_decoding(tmp_path: Path, no_decoding: None) -> None:
    # ~1 MB declaring 30000x30000: decoding it took 10 s and 900 MB.
    bomb = write_png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(BombError):
        image_size(bomb)
    with pytest.raises(TooLarge) as exc:
        list(iter_frames(LocalMedia(bomb, "image"), 1, SampleLimits()))
    assert exc.value.code == "frame_too_large"
    # As the first frame of a folder, it refuses the clip before any frame is decoded.
    folder = tmp_path / "clip"
    folder.mkdir()
    bomb.rename(folder / "0001.png")
    _write(folder / "0002.png")
    with pytest.raises(TooLarge):
        list(iter_frames(LocalMedia(folder, "frames"), 2, SampleLimits()))


def test_a_bomb_below_pillows_own_limit_meets_ours(tmp_path: Path, no_decoding: None) -> None:
    bomb = write_png_bomb(tmp_path / "b.png", side=5000)  # 25 M pixels: Pillow only warns
    assert image_size(bomb) == (5000, 5000)
    with pytest.raises(TooLarge, match="5000x5000"):
        list(iter_images([bomb], 1, SampleLimits(max_pixels=4096 * 4096)))


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n", b"v/1\x01\x02\x00\x00" + bytes(64)])
def test_what_no_header_sizes_is_never_decoded(
    tmp_path: Path, content: bytes, no_decoding: None
) -> None:
    # Empty, a PNG cut after its signature, an OpenEXR header: none reaches a decoder.
    path = tmp_path / "x.png"
    path.write_bytes(content)
    assert image_size(path) is None
    with pytest.raises(Unreadable):
        list(iter_images([path], 1, SampleLimits()))


def _gif_bomb(path: Path, side: int = 30000) -> Path:
    """A 40-byte GIF declaring ``side`` x ``side`` pixels (one 2-colour image of that size)."""
    import struct

    screen = struct.pack("<HHBBB", side, side, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, side, side, 0) + b"\x02\x02\x44\x01\x00"
    path.write_bytes(b"GIF89a" + screen + image + b"\x3b")
    return path


@pytest.mark.parametrize("name", ["bomb.gif", "bomb.mp4"])
def test_an_image_read_as_a_video_is_sized_first(
    tmp_path: Path, name: str, no_decoding: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A GIF is read by the video path (animations); a still may carry a video's name.
    def no_video_reader(path: Path) -> None:
        raise AssertionError("a video reader opened the bomb")

    monkeypatch.setattr(frames_mod, "open_av", no_video_reader)
    bomb = _gif_bomb(tmp_path / name)
    with pytest.raises(TooLarge) as exc:
        list(iter_frames(LocalMedia(bomb, "video"), 4, SampleLimits()))
    assert exc.value.code == "frame_too_large"
