"""Small media made on the spot (for the README's first command, tests and benchmarks).

The face is scikit-image's bundled ``astronaut`` photograph (Eileen Collins, NASA, public
domain), so nothing here depends on research data. A "fake" sample pastes a degraded,
colour-shifted copy of the face back into each frame through a feathered elliptical mask:
a crude face swap with the blending boundary real swaps leave.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def _paste_fake(frame: np.ndarray, centre: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    h, w = frame.shape[:2]
    # Another face's rendering: softer, with its own noise and skin tone.
    swapped = cv2.GaussianBlur(frame, (0, 0), 2.5).astype(np.float32)
    swapped *= np.array([0.8, 1.0, 1.2], np.float32)
    swapped += np.random.default_rng(centre[0]).normal(0, 4, swapped.shape).astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 3)[..., None]
    out = mask * swapped + (1 - mask) * frame.astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def sample_frames(
    n: int = 50, size: tuple[int, int] = (640, 480), fake: bool = False, seed: int = 0
) -> list[np.ndarray]:
    """``n`` BGR frames of the astronaut's face drifting slowly over a textured background."""
    rng = np.random.default_rng(seed)
    w, h = size
    # Head and shoulders of the photo, about 0.85 of the frame height: a webcam-like framing.
    portrait = astronaut_bgr()[0:320, 70:390]
    face = cv2.resize(portrait, (int(h * 0.85), int(h * 0.85)), interpolation=cv2.INTER_AREA)
    fh, fw = face.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    base = (96 + 40 * np.sin(xx / 37.0) * np.cos(yy / 53.0)).astype(np.float32)
    frames = []
    for t in range(n):
        bg = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
        frame = cv2.cvtColor(bg, cv2.COLOR_GRAY2BGR)
        ox = (w - fw) // 2 + int(12 * np.sin(t / 9.0))
        oy = (h - fh) // 2 + int(6 * np.cos(t / 11.0))
        frame[oy : oy + fh, ox : ox + fw] = face
        if fake:
            # The astronaut's face sits at about (0.49, 0.39) of this crop, 0.29 wide.
            cx, cy = ox + int(0.49 * fw), oy + int(0.40 * fh)
            frame = _paste_fake(frame, (cx, cy), (int(0.12 * fw), int(0.16 * fh)))
        frames.append(frame)
    return frames


def write_video(
    path: Path,
    frames: list[np.ndarray],
    fps: int = 25,
    crf: int = 23,
    threads: int | None = None,
) -> Path:
    """Write BGR frames as H.264 in MP4 (PyAV), the format most uploads arrive in.

    ``threads=1`` encodes on the calling thread alone (before a fork); None, the default.
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        if threads is not None:
            stream.codec_context.thread_count = threads
        for img in frames:
            vf = av.VideoFrame.from_ndarray(img[: stream.height, : stream.width], format="bgr24")
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_sample(path: Path, *, fake: bool = False, frames: int = 50, seed: int = 0) -> Path:
    return write_video(path, sample_frames(frames, fake=fake, seed=seed))
