"""Frame reading: the frames common.frame_indices names, from generators that always release.

Every reader is a generator whose ``finally`` releases the capture, so a consumer that stops
early (timeout, enough faces) never leaks a decoder. Frames are checked to really decode: a
container can announce frames it cannot deliver (truncated upload, missing moov atom).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from common.decode_stats import current_stats
from common.errors import InputError, ScanTimeout, TooLarge, Unreadable
from common.frame_indices import sample_indices, segment_indices
from common.media import IMAGE_SUFFIXES, LocalMedia
from common.types import SAMPLINGS, Frame, Sampling

# OpenCV fallback path only (containers PyAV cannot index): a seek costs about one keyframe
# interval of decoding; below this gap, grabbing through the frames in between is cheaper.
SEEK_MIN_GAP = 48


@dataclass(frozen=True, slots=True)
class SampleLimits:
    """Limits a sampler enforces; built from Settings by the caller."""

    max_pixels: int = 4096 * 4096
    max_duration_s: float = 4 * 3600.0
    deadline: float | None = None  # time.monotonic() value after which to stop

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ScanTimeout("per-video time limit exceeded while decoding")


def _check_pixels(width: int, height: int, limits: SampleLimits, what: object) -> None:
    if width * height > limits.max_pixels:
        raise TooLarge(
            f"{what}: {width}x{height} frames exceed the limit of {limits.max_pixels} pixels",
            code="frame_too_large",
        )


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
            nbytes = 0
            for pk in self.container.demux(self.stream):
                if pk.size == 0:
                    continue
                if pk.pts is None:
                    raise ValueError("packets without timestamps")
                pts.append(pk.pts)
                nbytes += pk.size
                if pk.is_keyframe:
                    keys.append(pk.pts)
        except Exception:
            self.release()
            raise
        self.order = sorted(pts)  # display order
        self.position = {p: i for i, p in enumerate(self.order)}
        self.keyframes = sorted(self.position[p] for p in keys)
        self.index_bytes = nbytes
        cc = self.stream.codec_context
        # One thread: the pool runs one process per core, and frame threads would delay
        # the per-packet skip decisions below.
        cc.thread_type = "NONE"
        cc.thread_count = 1
        self.width, self.height = cc.width, cc.height
        rate = self.stream.guessed_rate or self.stream.average_rate
        self.fps = float(rate) if rate else 0.0
        self.total = int(self.stream.frames or 0) or len(self.order)

    def isOpened(self) -> bool:  # noqa: N802 - the cv2.VideoCapture spelling
        return self._open

    def release(self) -> None:
        if self._open:
            self._open = False
            self.container.close()


def _open_av(path: Path) -> AvCapture | None:
    """The PyAV reader, or None when PyAV cannot index the file (OpenCV then decides)."""
    try:
        cap = AvCapture(str(path))
    except Exception:
        return None
    if not cap.order or cap.width <= 0 or cap.height <= 0:
        cap.release()
        return None
    return cap


def iter_video(
    path: Path, n: int, limits: SampleLimits, sampling: Sampling = "spread"
) -> Iterator[Frame]:
    """Decode ``n`` evenly spread frames of a video file.

    ``sampling="segments"``: ``n`` frames in runs of consecutive frames starting at keyframes
    (:func:`segment_indices`) instead, on the PyAV path; the OpenCV fallback (no keyframe
    list) always spreads.

    PyAV path: keyframe-aware seeking plus ``skip_frame=NONREF`` on every packet that is not
    a sampled frame, so the decoder reconstructs only the sampled pictures and those that
    later pictures predict from. The sampled frames are bit-identical to a full sequential
    decode (checked on all pristine videos), at about 2/3 of the CPU of grab-through.
    Containers PyAV cannot index (no timestamps, broken) fall back to OpenCV.
    """
    av_cap = _open_av(path)
    if av_cap is not None:
        yield from _iter_av(av_cap, path, n, limits, sampling)
        return
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise Unreadable(f"not a readable video: {path.name}")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 25.0
        _check_pixels(
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            limits,
            path.name,
        )
        if total > 0 and total / fps > limits.max_duration_s:
            raise TooLarge(
                f"{path.name}: {total / fps:.0f} s is over the limit "
                f"of {limits.max_duration_s:.0f} s",
                code="too_long",
            )
        yield from _read_at(cap, sample_indices(total, n) if total > 0 else [], fps, n, limits)
    finally:
        cap.release()


def _check_duration(total: int, fps: float, limits: SampleLimits, path: Path) -> None:
    if total > 0 and total / fps > limits.max_duration_s:
        raise TooLarge(
            f"{path.name}: {total / fps:.0f} s is over the limit of {limits.max_duration_s:.0f} s",
            code="too_long",
        )


def _iter_av(
    cap: AvCapture, path: Path, n: int, limits: SampleLimits, sampling: Sampling = "spread"
) -> Iterator[Frame]:
    if sampling not in SAMPLINGS:
        cap.release()
        raise ValueError(f"unknown sampling {sampling!r} ({' | '.join(SAMPLINGS)})")
    segments = sampling == "segments" and bool(cap.keyframes)
    stats = current_stats()
    stats.strategy = "pyav-segments" if segments else "pyav-keyseek-nonref"
    try:
        fps = cap.fps
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 25.0
        _check_pixels(cap.width, cap.height, limits, path.name)
        _check_duration(cap.total, fps, limits, path)
        stats.bytes_read += cap.index_bytes
        total = min(cap.total, len(cap.order))
        wanted = (
            segment_indices(total, n, cap.keyframes)
            if segments
            else [i for i in sample_indices(cap.total, n) if i < len(cap.order)]
        )
        want_pts = {cap.order[i] for i in wanted}
        pending = list(wanted)  # ascending
        delivered = 0
        container, stream = cap.container, cap.stream
        cc = stream.codec_context
        pos = -1  # highest display index the decoder has output or been positioned past
        packets = None
        while pending:
            limits.check_time()
            nxt = pending[0]
            k = cap.keyframes[bisect.bisect_right(cap.keyframes, nxt) - 1] if cap.keyframes else 0
            if packets is None or k > pos + 1:
                # Jump to the keyframe before the next wanted frame when it skips frames.
                container.seek(cap.order[k], stream=stream, backward=True, any_frame=False)
                stats.seeks += 1
                packets = container.demux(stream)
                pos = k - 1
            finished = True
            for pk in packets:
                limits.check_time()
                if pk.size == 0:
                    continue
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
                    if pending and idx == pending[0]:
                        pending.pop(0)
                        delivered += 1
                        stats.frames_delivered += 1
                        yield Frame(
                            index=idx, time_s=idx / fps, image=fr.to_ndarray(format="bgr24")
                        )
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
                        delivered += 1
                        stats.frames_delivered += 1
                        yield Frame(
                            index=idx, time_s=idx / fps, image=fr.to_ndarray(format="bgr24")
                        )
                break
        if delivered == 0:
            raise Unreadable(
                "the container opened but no frame could be decoded (corrupt or truncated)"
            )
    finally:
        cap.release()


def _read_at(
    cap: cv2.VideoCapture, indices: Sequence[int], fps: float, n: int, limits: SampleLimits
) -> Iterator[Frame]:
    """Read the wanted indices, seeking over long gaps and grabbing over short ones."""
    if not indices:
        # Unknown length (some streams): read sequentially, keep the first n frames.
        indices = list(range(n))
    pos = 0
    delivered = 0
    for idx in indices:
        limits.check_time()
        if idx - pos > SEEK_MIN_GAP:
            cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
            pos = idx
        ok = True
        while pos < idx and ok:
            ok = cap.grab()
            pos += 1
        if not ok:
            break
        ok, image = cap.read()
        pos += 1
        if not ok or image is None:
            break  # truncated: keep what decoded so far
        delivered += 1
        yield Frame(index=idx, time_s=idx / fps, image=image)
    if delivered == 0:
        raise Unreadable(
            "the container opened but no frame could be decoded (corrupt or truncated)"
        )


def _read_image(path: Path) -> np.ndarray | None:
    # imdecode rather than imread: it handles non-ASCII paths and never prints to stderr.
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def iter_images(paths: Sequence[Path], n: int, limits: SampleLimits) -> Iterator[Frame]:
    """Sample ``n`` of a sorted list of image files as the frames of one clip."""
    delivered = 0
    for idx in sample_indices(len(paths), n):
        limits.check_time()
        image = _read_image(paths[idx])
        if image is None:
            continue  # one bad frame in a folder is not fatal
        _check_pixels(image.shape[1], image.shape[0], limits, paths[idx].name)
        delivered += 1
        yield Frame(index=idx, time_s=float(idx), image=image)
    if delivered == 0:
        raise Unreadable("no image in the clip could be decoded")


def list_frame_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"folder has no image frames: {folder}", code="empty_folder")
    return files


def iter_frames(
    media: LocalMedia, n: int, limits: SampleLimits, sampling: Sampling = "spread"
) -> Iterator[Frame]:
    """Dispatch on the media kind; every path ends by raising or yielding >= 1 frame.

    ``sampling`` applies to video files; images and frame folders are always spread.
    """
    if media.kind == "video":
        return iter_video(media.path, n, limits, sampling)
    if media.kind == "image":
        return iter_images([media.path], 1, limits)
    return iter_images(list_frame_files(media.path), n, limits)
