"""Whole-frame degradations of the robustness bench (``research.robustness``).

Each takes the sampled frames of one video and returns them degraded alike, every pixel of the
frame the same way, so no blending edge appears anywhere: JPEG, H.264 through PyAV, downscale,
down-and-up rescale, Gaussian blur, a colour cast.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import cv2
import numpy as np

Frames = list[np.ndarray]

# --- Degradations (whole frame) ---------------------------------------------------------------


def _jpeg(img: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


def jpeg(q: int) -> Callable[[Frames], Frames]:
    return lambda frames: [_jpeg(f, q) for f in frames]


def downscale(f: float) -> Callable[[Frames], Frames]:
    def run(frames: Frames) -> Frames:
        return [
            cv2.resize(x, (max(16, int(x.shape[1] * f)), max(16, int(x.shape[0] * f))),
                       interpolation=cv2.INTER_AREA)
            for x in frames
        ]  # fmt: skip

    return run


def rescale_back(f: float) -> Callable[[Frames], Frames]:
    """Down to ``f`` and back up to the original size: the detail of a low-res upload."""

    def run(frames: Frames) -> Frames:
        out = []
        for x in frames:
            h, w = x.shape[:2]
            small = cv2.resize(
                x, (max(16, int(w * f)), max(16, int(h * f))), interpolation=cv2.INTER_AREA
            )
            out.append(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
        return out

    return run


def blur(sigma: float) -> Callable[[Frames], Frames]:
    return lambda frames: [cv2.GaussianBlur(x, (0, 0), sigma) for x in frames]


def colour_shift(frames: Frames) -> Frames:
    """Warmer, darker midtones: gamma 1.2 and a BGR cast of (0.9, 1.0, 1.1)."""
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** 1.2, 0, 255).astype(np.uint8)
    gains = np.array([0.9, 1.0, 1.1], np.float32)
    return [np.clip(cv2.LUT(x, lut).astype(np.float32) * gains, 0, 255).astype(np.uint8)
            for x in frames]  # fmt: skip


def h264(crf: int) -> Callable[[Frames], Frames]:
    """Encode the frames as one H.264 clip through PyAV at ``crf`` and decode it back."""

    def run(frames: Frames) -> Frames:
        import io

        import av

        h, w = frames[0].shape[:2]
        h2, w2 = h - h % 2, w - w % 2
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as c:
            s = c.add_stream("libx264", rate=Fraction(25))
            s.width, s.height, s.pix_fmt = w2, h2, "yuv420p"
            s.options = {"crf": str(crf), "preset": "veryfast"}
            for x in frames:
                x = cv2.resize(x, (w, h)) if x.shape[:2] != (h, w) else x
                for p in s.encode(av.VideoFrame.from_ndarray(x[:h2, :w2], format="bgr24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        buf.seek(0)
        with av.open(buf, "r") as c:
            return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]

    return run


ATTACKS: dict[str, Callable[[Frames], Frames]] = {
    "jpeg_q50": jpeg(50),
    "h264_crf35": h264(35),
    "downscale_0.5": downscale(0.5),
}
REAL_DEGRADATIONS: dict[str, Callable[[Frames], Frames]] = {
    "recompress_h264_crf38": h264(38),
    "blur_sigma1.5": blur(1.5),
    "rescale_0.4_up": rescale_back(0.4),
    "colour_shift": colour_shift,
}
