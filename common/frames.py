"""Frame sampling: N frames spread over a clip, from a generator that always releases.

Every reader is a generator whose ``finally`` releases the capture, so a consumer that stops
early (timeout, enough faces) never leaks a decoder. Frames are checked to really decode: a
container can announce frames it cannot deliver (truncated upload, missing moov atom).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from common.errors import InputError, ScanTimeout, TooLarge, Unreadable
from common.media import IMAGE_SUFFIXES, LocalMedia
from common.types import Frame

# A seek costs about one keyframe interval of decoding; below this gap, grabbing (decode
# without colour conversion) through the frames in between is cheaper than seeking.
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


def sample_indices(total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``total`` frames (all of them if fewer)."""
    if total <= 0 or n <= 0:
        return []
    if total <= n:
        return list(range(total))
    # Centres of n equal segments: avoids the first and last frames (fades, black frames).
    return sorted({int((i + 0.5) * total / n) for i in range(n)})


def _check_pixels(width: int, height: int, limits: SampleLimits, what: object) -> None:
    if width * height > limits.max_pixels:
        raise TooLarge(
            f"{what}: {width}x{height} frames exceed the limit of {limits.max_pixels} pixels",
            code="frame_too_large",
        )


def iter_video(path: Path, n: int, limits: SampleLimits) -> Iterator[Frame]:
    """Decode ``n`` evenly spread frames of a video file."""
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


def iter_frames(media: LocalMedia, n: int, limits: SampleLimits) -> Iterator[Frame]:
    """Dispatch on the media kind; every path ends by raising or yielding >= 1 frame."""
    if media.kind == "video":
        return iter_video(media.path, n, limits)
    if media.kind == "image":
        return iter_images([media.path], 1, limits)
    return iter_images(list_frame_files(media.path), n, limits)
