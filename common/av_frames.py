"""Video frames through PyAV: keyframe seeking first, a sequential decode when seeking fails.

:class:`AvCapture` indexes a container's video packets once (no decoding); :func:`read_keyseek`
seeks to the keyframe before each wanted frame and skips the pictures nobody needs. Some
containers cannot be seeked reliably: in an MPEG program stream (``.mpg``, e.g. the GRID
corpus) a seek lands on whatever packet follows the byte offset it guessed, not on the
keyframe asked for, and nothing decodes from there. :func:`read_keyseek` notices (the first
packet after a seek must be that keyframe or an earlier one) and stops with
:class:`SeekMissed`; :func:`read_sequential` then decodes from the first packet on, which any
decodable file allows. Both deliver the same pictures: a frame is the same whichever way the
decoder reached it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.decode_stats import current_stats
from common.frame_indices import sample_indices, segment_indices
from common.sample_limits import check_pixels
from common.types import Frame, Sampling

if TYPE_CHECKING:
    from common.sample_limits import SampleLimits


class SeekMissed(Exception):
    """A seek landed past the keyframe it asked for: this container cannot be seeked."""


class AvCapture:
    """A PyAV container with the display-order index of its video packets.

    Opening demuxes the whole stream once without decoding (cheap: no pixel work) to learn
    each packet's display position and the keyframes, so that reading can seek straight to
    the keyframe before a wanted frame and tell the decoder which pictures it may skip.
    """

    def __init__(self, path: str) -> None:
        import av

        self.container = av.open(path)
        self._open = True
        try:
            self.stream = self.container.streams.video[0]
            pts: list[int] = []
            keys: list[int] = []
            hidden_keys: list[int] = []
            hidden = nbytes = 0
            for pk in self.container.demux(self.stream):
                if pk.size == 0:
                    continue
                if pk.pts is None:
                    raise ValueError("packets without timestamps")
                nbytes += pk.size
                if pk.is_discard:
                    # Before the start of the container's edit list (MP4 edit lists trim
                    # leading frames, e.g. DeepFaceLab's data_dst.mp4): decoded as references
                    # but never output, so they have no display position.
                    hidden += 1
                    if pk.is_keyframe:
                        hidden_keys.append(pk.pts)
                    continue
                pts.append(pk.pts)
                if pk.is_keyframe:
                    keys.append(pk.pts)
        except Exception:
            self.release()
            raise
        self.order = sorted(pts)  # display order
        self.position = {p: i for i, p in enumerate(self.order)}
        # A hidden keyframe starts the frames shown after it: seeking to the first of them
        # lands on it.
        starts = {bisect.bisect_left(self.order, p) for p in hidden_keys}
        self.keyframes = sorted({self.position[p] for p in keys} | (starts - {len(self.order)}))
        self.index_bytes = nbytes
        cc = self.stream.codec_context
        _single_thread(cc)
        self.width, self.height = cc.width, cc.height
        rate = self.stream.guessed_rate or self.stream.average_rate
        self.fps = float(rate) if rate else 0.0
        self.total = int(self.stream.frames or 0) - hidden or len(self.order)

    def wanted(self, n: int, sampling: Sampling) -> list[int]:
        """Display indices to read: runs from keyframes (``segments``) or spread."""
        if sampling == "segments" and self.keyframes:
            return segment_indices(min(self.total, len(self.order)), n, self.keyframes)
        return [i for i in sample_indices(self.total, n) if i < len(self.order)]

    def isOpened(self) -> bool:  # noqa: N802 - the cv2.VideoCapture spelling
        return self._open

    def release(self) -> None:
        if self._open:
            self._open = False
            self.container.close()


def _single_thread(cc: object) -> None:
    # One thread: the pool runs one process per core, and frame threads would delay the
    # per-packet skip decisions below.
    cc.thread_type = "NONE"  # type: ignore[attr-defined]
    cc.thread_count = 1  # type: ignore[attr-defined]


def open_av(path: Path) -> AvCapture | None:
    """The PyAV reader, or None when PyAV cannot index the file (OpenCV then decides)."""
    try:
        cap = AvCapture(str(path))
    except Exception:
        return None
    if not cap.order or cap.width <= 0 or cap.height <= 0:
        cap.release()
        return None
    return cap


def _bgr() -> Callable[[object], np.ndarray]:
    """A converter of decoded pictures to BGR arrays, for one read.

    ``VideoFrame.to_ndarray`` builds a new swscale context for every picture, with as many
    slice threads as there are cores; one context kept for the whole read, on one thread
    (the pool runs a process per core), gives the same pixels for ~12-16% less decode CPU
    (docs/speed.md).
    """
    from av.video.reformatter import VideoReformatter

    sws = VideoReformatter()
    return lambda fr: sws.reformat(fr, format="bgr24", threads=1).to_ndarray()  # type: ignore[arg-type]


def _frame(fr: object, idx: int, fps: float, bgr: Callable[[object], np.ndarray]) -> Frame:
    stats = current_stats()
    stats.frames_delivered += 1
    return Frame(index=idx, time_s=idx / fps, image=bgr(fr))


def read_keyseek(
    cap: AvCapture, wanted: Sequence[int], fps: float, limits: SampleLimits
) -> Generator[Frame, None, None]:
    """The ``wanted`` display indices (ascending), seeking to the keyframe before each run.

    ``skip_frame=NONREF`` on every packet that is not a wanted frame, so the decoder
    reconstructs only the wanted pictures and those that later pictures predict from. The
    frames are bit-identical to a full sequential decode (checked on all pristine videos),
    at about 2/3 of the CPU of grab-through. Raises :class:`SeekMissed` when a seek lands
    past its keyframe; frames already yielded are good. The caller releases ``cap``.
    """
    stats = current_stats()
    bgr = _bgr()
    stats.bytes_read += cap.index_bytes
    want_pts = {cap.order[i] for i in wanted}
    pending = list(wanted)  # ascending
    container, stream = cap.container, cap.stream
    cc = stream.codec_context
    pos = -1  # highest display index the decoder has output or been positioned past
    packets = None
    while pending:
        limits.check_time()
        nxt = pending[0]
        k = cap.keyframes[bisect.bisect_right(cap.keyframes, nxt) - 1] if cap.keyframes else 0
        landing = False
        if packets is None or k > pos + 1:
            # Jump to the keyframe before the next wanted frame when it skips frames.
            container.seek(cap.order[k], stream=stream, backward=True, any_frame=False)
            stats.seeks += 1
            packets = container.demux(stream)
            pos = k - 1
            landing = True
        finished = True
        for pk in packets:
            limits.check_time()
            if pk.size == 0:
                continue
            if landing:
                # The first packet after a seek must be keyframe k or an earlier keyframe
                # (compared by timestamp: a keyframe hidden by an edit list has no position).
                if pk.pts is None or pk.pts > cap.order[k] or not pk.is_keyframe:
                    at = cap.position.get(pk.pts, "?") if pk.pts is not None else "?"
                    raise SeekMissed(f"a seek to frame {k} landed on frame {at}")
                landing = False
            stats.bytes_read += pk.size
            # Pictures nobody refers to and nobody wants are not reconstructed.
            cc.skip_frame = "DEFAULT" if pk.pts in want_pts else "NONREF"
            try:
                decoded = cc.decode(pk)
            except Exception:
                decoded = []  # a corrupt packet: later frames may still decode
            for fr in decoded:
                stats.frames_decoded += 1
                idx = cap.position.get(fr.pts, -1)
                pos = max(pos, idx)
                while pending and pending[0] < idx:
                    # Passed without being output (a packet that never decoded): give it
                    # up here, or this frame, the next wanted one, would be passed over too.
                    pending.pop(0)
                if pending and idx == pending[0]:
                    pending.pop(0)
                    yield _frame(fr, idx, fps, bgr)
            while pending and pending[0] < pos:
                pending.pop(0)  # passed without being output (corrupt): give it up
            if not pending or pending[0] != nxt:
                finished = False
                break
        if finished:
            # End of stream: drain the frames the decoder still holds (B-frame delay).
            cc.skip_frame = "DEFAULT"
            try:
                rest = cc.decode(None)
            except Exception:
                rest = []
            for fr in rest:
                stats.frames_decoded += 1
                idx = cap.position.get(fr.pts, -1)
                if pending and idx in pending:
                    pending.remove(idx)
                    yield _frame(fr, idx, fps, bgr)
            break


def read_sequential(
    path: Path,
    wanted: Sequence[int] | None,
    n: int,
    limits: SampleLimits,
    position: Mapping[int, int] | None = None,
    fps: float | None = None,
) -> Generator[Frame, None, int]:
    """Decode ``path`` from its first packet, no seeking; yield the ``wanted`` display indices.

    With ``position`` (an :class:`AvCapture`'s pts -> display index) frames are placed by
    their timestamps, and pictures that are neither wanted nor referenced are skipped as in
    :func:`read_keyseek`; without it (no usable timestamps) by the order they come out, and
    ``wanted=None`` spreads ``n`` frames over the count the stream announces (the first
    ``n`` when it announces none). Stops after the last wanted frame. Returns the number of
    frames yielded (0 when PyAV cannot open the file at all).
    """
    import av

    stats = current_stats()
    bgr = _bgr()
    stats.strategy = (stats.strategy + "+" if stats.strategy else "") + "pyav-sequential"
    try:
        container = av.open(str(path))
    except Exception:
        return 0
    delivered = 0
    try:
        if not container.streams.video:
            return 0
        stream = container.streams.video[0]
        cc = stream.codec_context
        _single_thread(cc)
        check_pixels(cc.width, cc.height, limits, path.name)
        if fps is None:
            rate = stream.guessed_rate or stream.average_rate
            fps = float(rate) if rate else 25.0
        if wanted is None:
            announced = int(stream.frames or 0)
            wanted = sample_indices(announced, n) if announced > 0 else list(range(n))
        want = set(wanted)
        want_pts = None if position is None else {p for p, i in position.items() if i in want}
        last = max(want, default=-1)
        out = highest = 0  # frames output so far (placing them without timestamps), top index
        for pk in container.demux(stream):
            limits.check_time()
            stats.bytes_read += pk.size
            if want_pts is not None and pk.size:
                cc.skip_frame = "DEFAULT" if pk.pts in want_pts else "NONREF"
            try:
                decoded = cc.decode(pk)  # the final empty packet flushes the decoder
            except Exception:
                decoded = []
            for fr in decoded:
                stats.frames_decoded += 1
                idx = out if position is None else position.get(fr.pts, -1)
                out, highest = out + 1, max(highest, idx)
                if idx in want:
                    want.discard(idx)  # each index once, in the order decoded
                    delivered += 1
                    yield _frame(fr, idx, fps, bgr)
            if not want or highest > last:  # output is in display order: nothing wanted is left
                break
    finally:
        container.close()
    return delivered
