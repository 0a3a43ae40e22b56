"""The keyframe reader on damaged packets and on MP4 edit lists: every frame that decodes is
delivered, and display positions count only the frames a player shows."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from _media import h264_stream, index_frame, read_index

from common.av_frames import open_av
from common.frames import SampleLimits, iter_video


def write_damaged(path: Path, n: int, damaged: set[int]) -> Path:
    """Intra-only H.264 of ``n`` index frames whose packets ``damaged`` (in coding order,
    = display order here) keep their size but not their data: they never decode, and every
    other frame does (no frame refers to another)."""
    with av.open(str(path), "w") as container:
        stream = h264_stream(container, 160, 120, keyint=1)
        count = 0

        def mux(pk: av.Packet) -> None:
            nonlocal count
            if count in damaged:
                data = bytearray(bytes(pk))
                data[4:] = bytes(len(data) - 4)  # the NAL's length kept, its bytes zeroed
                bad = av.Packet(bytes(data))
                bad.pts, bad.dts, bad.time_base = pk.pts, pk.dts, pk.time_base
                bad.stream, bad.is_keyframe = pk.stream, True
                pk = bad
            count += 1
            container.mux(pk)

        for i in range(n):
            for pk in stream.encode(av.VideoFrame.from_ndarray(index_frame(i), format="bgr24")):
                mux(pk)
        for pk in stream.encode():
            mux(pk)
    return path


def write_edit_list(path: Path, n: int, hidden: int) -> Path:
    """H.264/MP4 of ``n`` index frames, one keyframe, the first ``hidden`` before time 0: the
    MP4 muxer writes an edit list that starts at 0, and players never show those frames
    (DeepFaceLab's data_dst.mp4 is made so)."""
    with av.open(str(path), "w") as container:
        stream = h264_stream(container, 160, 120, keyint=1000)
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(index_frame(i), format="bgr24")
            frame.pts, frame.time_base = i - hidden, Fraction(1, 25)
            for pk in stream.encode(frame):
                container.mux(pk)
        for pk in stream.encode():
            container.mux(pk)
    return path


def shown(path: Path) -> list[np.ndarray]:
    """Every frame a plain sequential decode outputs, in order."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


@pytest.mark.parametrize("sampling", ["segments", "spread"])
def test_a_frame_that_never_decodes_costs_only_itself(tmp_path: Path, sampling: str) -> None:
    clip = write_damaged(tmp_path / "damaged.mp4", 40, {6, 16})
    cap = open_av(clip)
    assert cap is not None
    wanted = cap.wanted(16, sampling)  # type: ignore[arg-type]
    cap.release()
    if sampling == "segments":  # runs of 4 from keyframes: the damage inside two runs
        assert {6, 16} <= set(wanted)
    got = list(iter_video(clip, 16, SampleLimits(), sampling))  # type: ignore[arg-type]
    assert [f.index for f in got] == [i for i in wanted if i not in (6, 16)]
    assert [read_index(f.image) for f in got] == [f.index for f in got]


@pytest.mark.parametrize("sampling", ["segments", "spread"])
def test_frames_an_edit_list_hides_have_no_position(tmp_path: Path, sampling: str) -> None:
    clip = write_edit_list(tmp_path / "edit.mp4", 30, hidden=6)
    frames = shown(clip)
    assert len(frames) == 24 and read_index(frames[0]) == 6
    cap = open_av(clip)
    assert cap is not None and (cap.total, cap.keyframes) == (24, [0])
    cap.release()
    got = list(iter_video(clip, 16, SampleLimits(), sampling))  # type: ignore[arg-type]
    assert len(got) == 16
    if sampling == "segments":  # the one keyframe is hidden: the run starts at the first shown
        assert [f.index for f in got] == list(range(16))
    for f in got:
        assert np.array_equal(f.image, frames[f.index])
        assert read_index(f.image) == f.index + 6
