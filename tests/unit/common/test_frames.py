"""The frame sampler: spread, real decoding, limits, and a capture released on every path."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path

import _media
import cv2
import numpy as np
import pytest
from _media import (
    MediaServer,
    index_frame,
    loopback_settings,
    read_index,
    write_face_video,
    write_frames_folder,
    write_garbage,
    write_image,
    write_index_video,
    write_mpeg_ps,
    write_text_as_video,
    write_truncated,
)

import common.av_frames as av_frames_mod
import common.frames as frames_mod
from common.av_frames import AvCapture, SeekMissed, read_keyseek, read_sequential
from common.decode_stats import collect_decode_stats
from common.errors import InputError, ScanTimeout, TooLarge, Unreadable
from common.frame_indices import sample_indices
from common.frames import SampleLimits, iter_frames, iter_images, iter_video
from common.media import LocalMedia, open_media

media_server = _media.media_server

N_FRAMES = 200  # long enough that the sampler seeks (gaps > SEEK_MIN_GAP) as well as grabs


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Index clips (each frame shows its own number), written once for the module."""
    d = tmp_path_factory.mktemp("clips")
    long = write_index_video(d / "long.mp4", n=N_FRAMES)
    short = write_index_video(d / "short.mp4", n=20)
    fast = write_index_video(d / "faststart.mp4", n=N_FRAMES, faststart=True)
    return {
        "long": long,
        "short": short,
        "faststart": fast,
        "half": write_truncated(long, d / "half.mp4"),
        "half_faststart": write_truncated(fast, d / "half_faststart.mp4"),
        "garbage": write_garbage(d / "garbage.mp4"),
        "text": write_text_as_video(d / "text.mp4"),
    }


@pytest.fixture(params=["pyav", "opencv"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on both video readers: PyAV (the main path) and the OpenCV fallback that
    takes containers PyAV cannot index (forced here by making PyAV decline every file)."""
    if request.param == "opencv":
        monkeypatch.setattr(frames_mod, "open_av", lambda path: None)
    return request.param


# --------------------------------------------------------------------------- sample_indices


@pytest.mark.parametrize("total", [1, 2, 7, 16, 17, 50, 101, 1000, 99_991])
@pytest.mark.parametrize("n", [1, 2, 5, 16, 64])
def test_sample_indices_properties(total: int, n: int) -> None:
    idx = sample_indices(total, n)
    assert len(idx) == min(total, n)
    assert all(0 <= i < total for i in idx)
    assert idx == sorted(set(idx))  # strictly increasing, no repeats
    if total <= n:
        assert idx == list(range(total))
        return
    # Evenly spread: index k lies in the k-th of n equal segments (up to flooring), the
    # steps between indices differ by at most one frame, and the margins at both ends are
    # about half a step (the first and last frames, often fades, are skipped).
    step = total / n
    for k, i in enumerate(idx):
        assert k * total // n - 1 <= i < (k + 1) * total / n
    steps = np.diff(idx)
    if len(steps):
        assert set(steps) <= {int(np.floor(step)), int(np.ceil(step))}
    assert abs(idx[0] - step / 2) <= 1
    assert abs((total - idx[-1]) - step / 2) <= 1


def test_sample_indices_degenerate() -> None:
    assert sample_indices(0, 5) == []
    assert sample_indices(-3, 5) == []
    assert sample_indices(10, 0) == []
    assert sample_indices(10, -1) == []
    assert sample_indices(10, 1) == [5]


# --------------------------------------------------------------------------- iter_video


@pytest.mark.parametrize("n", [1, 3, 5, 16])
def test_iter_video_returns_the_frames_it_claims(
    clips: dict[str, Path], n: int, reader: str
) -> None:
    frames = list(iter_video(clips["long"], n, SampleLimits()))
    assert [f.index for f in frames] == sample_indices(N_FRAMES, n)
    # Each image really is the frame at that index (barcode), whether reached by seek or grab.
    assert [read_index(f.image) for f in frames] == [f.index for f in frames]
    assert all(f.time_s == pytest.approx(f.index / 25.0) for f in frames)
    assert all(f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8 for f in frames)


def test_iter_video_short_clip_gives_every_frame(clips: dict[str, Path], reader: str) -> None:
    frames = list(iter_video(clips["short"], 64, SampleLimits()))
    assert [f.index for f in frames] == list(range(20))
    assert [read_index(f.image) for f in frames] == list(range(20))


class _Tracked:
    """A VideoCapture (or PyAV reader) that remembers whether it was released."""

    instances: list[_Tracked] = []
    real: object = None

    def __init__(self, *args: object) -> None:
        self.cap = (type(self).real or _REAL_CAPTURE)(*args)
        self.released = False
        _Tracked.instances.append(self)

    def release(self) -> None:
        self.released = True
        self.cap.release()

    def __getattr__(self, name: str) -> object:
        return getattr(self.cap, name)


_REAL_CAPTURE = cv2.VideoCapture
_REAL_AV = av_frames_mod.AvCapture


@pytest.fixture
def tracked(monkeypatch: pytest.MonkeyPatch) -> list[_Tracked]:
    _Tracked.instances = []
    monkeypatch.setattr(frames_mod.cv2, "VideoCapture", _Tracked)
    # The PyAV reader is the main path; OpenCV takes what PyAV cannot index.
    monkeypatch.setattr(
        av_frames_mod, "AvCapture", type("_TrackedAv", (_Tracked,), {"real": _REAL_AV})
    )
    return _Tracked.instances


def _only(tracked: list[_Tracked]) -> _Tracked:
    assert len(tracked) == 1
    return tracked[0]


def test_capture_released_after_full_read(
    clips: dict[str, Path], tracked: list, reader: str
) -> None:
    assert len(list(iter_video(clips["short"], 4, SampleLimits()))) == 4
    cap = _only(tracked)
    assert cap.released and not cap.cap.isOpened()


def test_capture_released_when_consumer_stops_early(
    clips: dict[str, Path], tracked: list, reader: str
) -> None:
    gen = iter_video(clips["long"], 16, SampleLimits())
    first = [next(gen), next(gen)]
    cap = _only(tracked)
    assert cap.cap.isOpened() and not cap.released  # still decoding
    gen.close()  # what `break` in a for loop or a discarded generator does
    assert cap.released and not cap.cap.isOpened()
    assert [read_index(f.image) for f in first] == sample_indices(N_FRAMES, 16)[:2]


def test_capture_released_when_generator_is_dropped(clips: dict[str, Path], tracked: list) -> None:
    def consume_two() -> None:
        for k, _frame in enumerate(iter_video(clips["long"], 16, SampleLimits())):
            if k == 1:
                return  # abandon the loop mid-clip

    consume_two()
    gc.collect()
    assert _only(tracked).released


def test_capture_released_when_consumer_raises(clips: dict[str, Path], tracked: list) -> None:
    with pytest.raises(RuntimeError):
        for _frame in iter_video(clips["long"], 16, SampleLimits()):
            raise RuntimeError("face detector crashed")
    gc.collect()
    assert _only(tracked).released


@pytest.mark.parametrize("name", ["garbage", "text", "half"])
def test_capture_released_on_unreadable(clips: dict[str, Path], tracked: list, name: str) -> None:
    with pytest.raises(Unreadable):
        list(iter_video(clips[name], 4, SampleLimits()))
    assert _only(tracked).released


def test_capture_released_on_limits(clips: dict[str, Path], tracked: list) -> None:
    with pytest.raises(TooLarge):
        list(iter_video(clips["short"], 4, SampleLimits(max_pixels=100)))
    with pytest.raises(ScanTimeout):
        list(iter_video(clips["short"], 4, SampleLimits(deadline=time.monotonic() - 1)))
    assert len(tracked) == 2 and all(c.released for c in tracked)


# --------------------------------------------------------------------------- bad video


def test_truncated_without_index_is_unreadable(clips: dict[str, Path]) -> None:
    # moov atom at the end: half a file has no index at all.
    with pytest.raises(Unreadable) as exc:
        list(iter_video(clips["half"], 8, SampleLimits()))
    assert exc.value.code == "unreadable" and not exc.value.retryable


def test_truncated_faststart_keeps_what_decodes(clips: dict[str, Path], reader: str) -> None:
    # moov first: the container announces all frames, only the first half exist.
    try:
        frames = list(iter_video(clips["half_faststart"], 16, SampleLimits()))
    except Unreadable:
        return  # a clean refusal is acceptable too
    assert 1 <= len(frames) < 16
    assert [read_index(f.image) for f in frames] == [f.index for f in frames]
    assert max(f.index for f in frames) < N_FRAMES * 0.6


@pytest.mark.parametrize("name", ["garbage", "text"])
def test_not_a_video_is_unreadable(clips: dict[str, Path], name: str) -> None:
    with pytest.raises(Unreadable) as exc:
        list(iter_video(clips[name], 4, SampleLimits()))
    assert exc.value.code == "unreadable"


# --------------------------------------------------------------------------- sequential fallback

PS_FRAMES = 75  # 3 s at 25 fps, as a GRID corpus clip


@pytest.fixture(scope="module")
def mpeg_ps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [index_frame(i, 176, 144) for i in range(PS_FRAMES)]
    return write_mpeg_ps(tmp_path_factory.mktemp("ps") / "clip.mpg", frames)


def test_mpeg_ps_cannot_be_read_by_seeking(mpeg_ps: Path) -> None:
    # The premise of the fallback: some seek in a program stream lands past its keyframe.
    cap = AvCapture(str(mpeg_ps))
    try:
        assert len(cap.keyframes) >= PS_FRAMES // 12  # plenty of keyframes to seek to
        with pytest.raises(SeekMissed):
            list(read_keyseek(cap, cap.wanted(16, "spread"), 25.0, SampleLimits()))
    finally:
        cap.release()


@pytest.mark.parametrize("sampling", ["spread", "segments"])
def test_mpeg_ps_reads_every_wanted_frame(mpeg_ps: Path, sampling: str) -> None:
    cap = AvCapture(str(mpeg_ps))
    wanted = cap.wanted(16, sampling)  # type: ignore[arg-type]
    cap.release()
    with collect_decode_stats() as stats:
        frames = list(iter_video(mpeg_ps, 16, SampleLimits(), sampling))  # type: ignore[arg-type]
    assert [f.index for f in frames] == wanted and len(wanted) == 16
    assert [read_index(f.image) for f in frames] == wanted
    assert stats.strategy.endswith("+pyav-sequential")
    assert stats.frames_delivered == 16


def test_sequential_frames_equal_seeked_frames(clips: dict[str, Path]) -> None:
    # Where seeking works, both readers deliver bit-identical pictures.
    cap = AvCapture(str(clips["long"]))
    try:
        wanted = cap.wanted(8, "spread")
        seeked = list(read_keyseek(cap, wanted, 25.0, SampleLimits()))
    finally:
        cap.release()
    read = read_sequential(clips["long"], wanted, 8, SampleLimits(), cap.position, 25.0)
    sequential = list(read)
    assert [f.index for f in sequential] == [f.index for f in seeked] == wanted
    assert all(np.array_equal(a.image, b.image) for a, b in zip(seeked, sequential, strict=True))


@pytest.mark.parametrize("sampling", ["segments", "spread"])
def test_frames_equal_a_plain_decode(tmp_path: Path, sampling: str) -> None:
    """Both PyAV readers convert with one swscale context on one thread: the same pixels as
    PyAV's own ``to_ndarray(format="bgr24")`` (a fresh context per picture, threads auto)."""
    import av

    clip = write_face_video(tmp_path / "face.mp4", n=60)
    with av.open(str(clip)) as c:
        plain = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    cap = AvCapture(str(clip))
    try:
        wanted = cap.wanted(8, sampling)  # type: ignore[arg-type]
        seeked = list(read_keyseek(cap, wanted, 25.0, SampleLimits()))
    finally:
        cap.release()
    sequential = list(read_sequential(clip, wanted, 8, SampleLimits(), cap.position, 25.0))
    for got in (seeked, sequential):
        assert [f.index for f in got] == wanted
        assert all(np.array_equal(f.image, plain[f.index]) for f in got)


def test_keyseek_delivering_nothing_falls_back(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An MP4 whose leading frames never decode (edit lists): the keyframe path gives nothing.
    def nothing(*args: object) -> Iterator[object]:
        yield from ()

    monkeypatch.setattr(frames_mod, "read_keyseek", nothing)
    frames = list(iter_video(clips["long"], 5, SampleLimits()))
    assert [read_index(f.image) for f in frames] == sample_indices(N_FRAMES, 5)


def test_opencv_reading_nothing_falls_back_to_sequential(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A container PyAV cannot index and OpenCV cannot open: decoded in order, by PyAV.
    monkeypatch.setattr(frames_mod, "open_av", lambda path: None)
    monkeypatch.setattr(frames_mod.cv2, "VideoCapture", lambda *a: _REAL_CAPTURE())
    frames = list(iter_video(clips["long"], 5, SampleLimits()))
    assert [read_index(f.image) for f in frames] == sample_indices(N_FRAMES, 5)
    with pytest.raises(Unreadable):  # and a file nothing can read stays unreadable
        list(iter_video(clips["garbage"], 5, SampleLimits()))


# --------------------------------------------------------------------------- limits


def test_max_pixels(clips: dict[str, Path], tmp_path: Path, reader: str) -> None:
    pixels = 160 * 120
    assert len(list(iter_video(clips["short"], 2, SampleLimits(max_pixels=pixels)))) == 2
    with pytest.raises(TooLarge) as exc:
        list(iter_video(clips["short"], 2, SampleLimits(max_pixels=pixels - 1)))
    assert exc.value.code == "frame_too_large"
    image = write_image(tmp_path / "big.png", index_frame(1))
    with pytest.raises(TooLarge) as exc:
        list(iter_images([image], 1, SampleLimits(max_pixels=pixels - 1)))
    assert exc.value.code == "frame_too_large"


def test_max_duration(clips: dict[str, Path], reader: str) -> None:
    # 200 frames at 25 fps = 8 s.
    assert list(iter_video(clips["long"], 1, SampleLimits(max_duration_s=8.5)))
    with pytest.raises(TooLarge) as exc:
        list(iter_video(clips["long"], 1, SampleLimits(max_duration_s=7.5)))
    assert exc.value.code == "too_long"


def test_deadline(clips: dict[str, Path], tmp_path: Path, reader: str) -> None:
    past = SampleLimits(deadline=time.monotonic() - 0.001)
    with pytest.raises(ScanTimeout) as exc:
        list(iter_video(clips["long"], 4, past))
    assert exc.value.code == "timeout"
    folder = write_frames_folder(tmp_path / "f", [index_frame(i) for i in range(3)])
    with pytest.raises(ScanTimeout):
        list(iter_frames(LocalMedia(folder, "frames"), 3, past))
    far = SampleLimits(deadline=time.monotonic() + 60)
    assert len(list(iter_video(clips["long"], 4, far))) == 4


def test_deadline_mid_clip(clips: dict[str, Path], reader: str) -> None:
    """Frames already delivered stay delivered; the timeout comes before the next decode."""
    limits = SampleLimits(deadline=time.monotonic() + 3600)
    gen = iter_video(clips["long"], 8, limits)
    got = [next(gen), next(gen)]
    object.__setattr__(limits, "deadline", time.monotonic() - 1)  # time runs out now
    with pytest.raises(ScanTimeout):
        next(gen)
    assert len(got) == 2


# --------------------------------------------------------------------------- images


def test_frames_folder_skips_one_bad_frame(tmp_path: Path) -> None:
    folder = write_frames_folder(tmp_path / "clip", [index_frame(i) for i in range(4)])
    (folder / "frame_0002.png").write_bytes(b"corrupt")
    frames = list(iter_frames(LocalMedia(folder, "frames"), 4, SampleLimits()))
    assert [f.index for f in frames] == [0, 1, 3]


def test_frames_folder_all_bad_or_empty(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    with pytest.raises(InputError) as exc:
        iter_frames(LocalMedia(folder, "frames"), 4, SampleLimits())
    assert exc.value.code == "empty_folder"
    (folder / "a.png").write_bytes(b"")
    (folder / "b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(Unreadable):
        list(iter_frames(LocalMedia(folder, "frames"), 4, SampleLimits()))


def test_corrupt_image_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8\xff" + b"\0" * 100)
    with pytest.raises(Unreadable):
        list(iter_frames(LocalMedia(path, "image"), 1, SampleLimits()))


# --------------------------------------------------------------------------- remote


def test_mp4_without_range_support_still_scans(
    clips: dict[str, Path], media_server: MediaServer
) -> None:
    media_server.add("long.mp4", clips["long"])
    url = media_server.url("/norange/long.mp4")
    with open_media(url, loopback_settings()) as media:
        frames = list(iter_frames(media, 5, SampleLimits()))
    assert [read_index(f.image) for f in frames] == sample_indices(N_FRAMES, 5)
    assert all(r[2] is None for r in media_server.requests)  # no Range request was needed
