"""Frame reading: the frames common.frame_indices names, from generators that always release.

Every reader is a generator whose ``finally`` releases the capture, so a consumer that stops
early (timeout, enough faces) never leaks a decoder. Frames are checked to really decode: a
container can announce frames it cannot deliver (truncated upload, missing moov atom).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from common.av_frames import SeekMissed, open_av, read_keyseek, read_sequential
from common.decode_stats import current_stats
from common.errors import InputError, TooLarge, Unreadable
from common.frame_indices import sample_indices
from common.image_size import BombError, image_size
from common.media import IMAGE_SUFFIXES, LocalMedia
from common.sample_limits import SampleLimits, check_duration, check_pixels, sane_fps
from common.types import SAMPLINGS, ClipInfo, Frame, Sampling

__all__ = ["SampleLimits", "iter_frames", "iter_images", "iter_video", "list_frame_files"]

# OpenCV fallback path only (containers PyAV cannot index): a seek costs about one keyframe
# interval of decoding; below this gap, grabbing through the frames in between is cheaper.
SEEK_MIN_GAP = 48


def iter_video(
    path: Path,
    n: int,
    limits: SampleLimits,
    sampling: Sampling = "spread",
    info: ClipInfo | None = None,
) -> Iterator[Frame]:
    """Decode ``n`` evenly spread frames of a video file.

    ``sampling="segments"``: ``n`` frames in runs of consecutive frames starting at keyframes
    (:func:`segment_indices`) instead, on the PyAV path; the OpenCV path (no keyframe list)
    always spreads.

    PyAV path (common.av_frames): keyframe-aware seeking that decodes only the pictures the
    sampled ones need. Where seeking fails (a seek lands past its keyframe, as in MPEG
    program streams) or delivers nothing (odd MP4s), the rest is decoded sequentially from
    the start. Containers PyAV cannot index (no timestamps, broken) go to OpenCV, and to a
    sequential PyAV decode if OpenCV delivers nothing either.

    ``info``, when given, receives the frame size, frame rate and frame count the reader
    found (the figures it checks against the limits anyway).

    A file that is an image format (an animated GIF, WebP or PNG, or a still under a video's
    name) is first sized from its header: a decoder never sees a bomb.
    """
    info = info if info is not None else ClipInfo()
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r} ({' | '.join(SAMPLINGS)})")
    _check_image_header(path, limits)
    cap = open_av(path)
    if cap is None:
        yield from _iter_cv_or_sequential(path, n, limits, info)
        return
    stats = current_stats()
    last, delivered = -1, 0  # display index of the last frame delivered, and their count
    missed = False
    try:
        fps = sane_fps(cap.fps)
        info.width, info.height, info.fps, info.frames = cap.width, cap.height, fps, cap.total
        check_pixels(cap.width, cap.height, limits, path.name)
        check_duration(cap.total, fps, limits, path.name)
        wanted = cap.wanted(n, sampling)
        segments = sampling == "segments" and bool(cap.keyframes)
        stats.strategy = "pyav-segments" if segments else "pyav-keyseek-nonref"
        for frame in read_keyseek(cap, wanted, fps, limits):
            last, delivered = frame.index, delivered + 1
            yield frame
    except SeekMissed:
        missed = True
    finally:
        cap.release()
    if missed or not delivered:
        # Only where the keyframe path failed: videos it reads keep exactly their frames.
        rest = [i for i in wanted if i > last]
        delivered += yield from read_sequential(path, rest, n, limits, cap.position, fps)
    if not delivered:
        raise Unreadable(
            "the container opened but no frame could be decoded (corrupt or truncated)"
        )


def _iter_cv_or_sequential(
    path: Path, n: int, limits: SampleLimits, info: ClipInfo
) -> Iterator[Frame]:
    """OpenCV for containers PyAV cannot index; a sequential PyAV decode if it reads nothing."""
    try:
        yield from _iter_cv(path, n, limits, info)
    except Unreadable:  # raised only before any frame was delivered
        if (yield from read_sequential(path, None, n, limits)) == 0:
            raise


def _iter_cv(path: Path, n: int, limits: SampleLimits, info: ClipInfo) -> Iterator[Frame]:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise Unreadable(f"not a readable video: {path.name}")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = sane_fps(cap.get(cv2.CAP_PROP_FPS))
        info.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        info.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        info.fps, info.frames = fps, max(total, 0)
        check_pixels(info.width, info.height, limits, path.name)
        check_duration(total, fps, limits, path.name)
        yield from _read_at(cap, sample_indices(total, n) if total > 0 else [], fps, n, limits)
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


def _check_image_header(path: Path, limits: SampleLimits) -> None:
    """Refuse a file whose image header declares more pixels than the limit; videos (no
    image header) and unreadable files pass, for the readers to judge."""
    try:
        size = image_size(path)
    except BombError as exc:
        raise TooLarge(f"{path.name}: {exc}", code="frame_too_large") from exc
    except OSError:
        return
    if size is not None:
        check_pixels(*size, limits, path.name)


def _read_image(path: Path, limits: SampleLimits) -> np.ndarray | None:
    """Decode an image, after its header's size passed the limit (common.image_size); None
    for a file that is no image we read, or that vanished or cannot be read meanwhile."""
    try:
        size = image_size(path)
        if size is None:
            return None  # never handed to a decoder: it could be anything
        check_pixels(*size, limits, path.name)
        # imdecode rather than imread: it handles non-ASCII paths and never prints to stderr.
        data = np.fromfile(path, dtype=np.uint8)
    except BombError as exc:
        raise TooLarge(f"{path.name}: {exc}", code="frame_too_large") from exc
    except OSError:
        return None  # vanished or unreadable meanwhile: a bad frame
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None


def iter_images(
    paths: Sequence[Path], n: int, limits: SampleLimits, info: ClipInfo | None = None
) -> Iterator[Frame]:
    """Sample ``n`` of a sorted list of image files as the frames of one clip.

    A frame's size is checked from its header before it is decoded (a decompression bomb
    is refused without allocating its pixels); one bad frame in a folder is skipped.
    ``info`` receives the folder's image count and the size of the first image that decoded.
    """
    info = info if info is not None else ClipInfo()
    info.frames = len(paths)
    delivered = 0
    for idx in sample_indices(len(paths), n):
        limits.check_time()
        image = _read_image(paths[idx], limits)
        if image is None:
            continue  # one bad frame in a folder is not fatal
        check_pixels(image.shape[1], image.shape[0], limits, paths[idx].name)
        if not delivered:
            info.height, info.width = image.shape[:2]
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
    media: LocalMedia,
    n: int,
    limits: SampleLimits,
    sampling: Sampling = "spread",
    info: ClipInfo | None = None,
) -> Iterator[Frame]:
    """Dispatch on the media kind; every path ends by raising or yielding >= 1 frame.

    ``sampling`` applies to video files; images and frame folders are always spread.
    ``info`` receives what the reader learnt of the clip (see :class:`ClipInfo`).
    """
    if media.kind == "video":
        return iter_video(media.path, n, limits, sampling, info)
    if media.kind == "image":
        return iter_images([media.path], 1, limits, info)
    return iter_images(list_frame_files(media.path), n, limits, info)
