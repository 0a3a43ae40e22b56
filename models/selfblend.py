"""Self-blended pseudo-fakes: a real face blended onto a transformed copy of itself.

Li et al., "Face X-ray for more general face forgery detection", CVPR 2020, and Shiohara &
Yamasaki, "Detecting deepfakes with self-blended images", CVPR 2022. The source and target
are the same face, so nothing but the blend differs: a colour/brightness shift, a resolution
loss (down-up scaling), a slight warp, and a feathered mask edge near the face contour.
Trained against the untouched real crops, which share every processing step, a detector can
only learn the blend, not a codec or a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from common.types import Face


@dataclass(frozen=True, slots=True)
class BlendParams:
    """One clip's pseudo-fake recipe (drawn once per clip, so frames stay consistent)."""

    hue_shift: float  # OpenCV hue units (0..180)
    sat_gain: float
    val_gain: float
    rgb_gain: tuple[float, float, float]
    down: float  # down-up scale factor (1 = none)
    blur_sigma: float
    sharpen: float
    shift: tuple[float, float]  # pixels
    scale: float
    mask_grow: int  # pixels; negative erodes the mask
    feather: float  # Gaussian sigma of the mask edge, pixels
    mask_kind: str  # "hull" | "ellipse"
    alpha: float  # blend strength at the mask centre


def draw_params(rng: np.random.Generator) -> BlendParams:
    return BlendParams(
        hue_shift=float(rng.uniform(-4, 4)),
        sat_gain=float(rng.uniform(0.85, 1.15)),
        val_gain=float(rng.uniform(0.88, 1.12)),
        rgb_gain=tuple(float(g) for g in rng.uniform(0.94, 1.06, size=3)),  # type: ignore[arg-type]
        down=float(rng.choice([1.0, rng.uniform(0.3, 0.75)], p=[0.3, 0.7])),
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.4, 1.2)], p=[0.5, 0.5])),
        sharpen=float(rng.choice([0.0, rng.uniform(0.2, 0.8)], p=[0.8, 0.2])),
        shift=(float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))),
        scale=float(rng.uniform(0.97, 1.03)),
        mask_grow=int(rng.integers(-6, 4)),
        feather=float(rng.uniform(1.0, 6.0)),
        mask_kind=str(rng.choice(["hull", "ellipse"], p=[0.7, 0.3])),
        alpha=float(rng.uniform(0.85, 1.0)),
    )


def _colour(img: np.ndarray, p: BlendParams) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + p.hue_shift) % 180
    hsv[..., 1] *= p.sat_gain
    hsv[..., 2] *= p.val_gain
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    return np.clip(out.astype(np.float32) * np.array(p.rgb_gain, np.float32), 0, 255)


def _quality(img: np.ndarray, p: BlendParams) -> np.ndarray:
    h, w = img.shape[:2]
    if p.down < 1.0:
        small = cv2.resize(
            img, (max(8, int(w * p.down)), max(8, int(h * p.down))), interpolation=cv2.INTER_AREA
        )
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if p.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), p.blur_sigma)
    if p.sharpen > 0:
        soft = cv2.GaussianBlur(img, (0, 0), 1.0)
        img = cv2.addWeighted(img, 1 + p.sharpen, soft, -p.sharpen, 0)
    return img


def _warp(img: np.ndarray, p: BlendParams) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, p.scale)
    m[:, 2] += p.shift
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def blend_mask(face: Face, p: BlendParams, rng: np.random.Generator) -> np.ndarray:
    """Feathered float mask near the face contour, jittered so boundaries vary."""
    size = face.crop.shape[0]
    base = (face.mask > 0.5).astype(np.uint8)
    if p.mask_kind == "ellipse" or not base.any():
        ys, xs = np.nonzero(base) if base.any() else (np.array([size // 2]), np.array([size // 2]))
        cy, cx = ys.mean(), xs.mean()
        ay = max(4, (ys.max() - ys.min()) / 2 * rng.uniform(0.85, 1.05))
        ax = max(4, (xs.max() - xs.min()) / 2 * rng.uniform(0.85, 1.05))
        base = np.zeros_like(base)
        cv2.ellipse(base, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, 1, -1)
    if p.mask_grow:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(p.mask_grow) + 1,) * 2)
        base = cv2.dilate(base, k) if p.mask_grow > 0 else cv2.erode(base, k)
    soft = cv2.GaussianBlur(base.astype(np.float32), (0, 0), p.feather)
    return np.clip(soft * p.alpha, 0.0, 1.0)


def self_blend(face: Face, p: BlendParams, rng: np.random.Generator) -> tuple[Face, np.ndarray]:
    """The pseudo-fake of one face crop and the blend mask used (for checks and tests)."""
    src = face.crop.astype(np.float32)
    tgt = _warp(_quality(_colour(face.crop, p), p), p)
    m = blend_mask(face, p, rng)[..., None]
    out = np.clip(m * tgt + (1 - m) * src, 0, 255).round().astype(np.uint8)
    return replace(face, crop=out), m[..., 0]


class SelfBlender:
    """A per-clip transform for :func:`common.extract.extract` (one recipe per clip)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.params = draw_params(self.rng)

    def __call__(self, face: Face) -> Face:
        return self_blend(face, self.params, self.rng)[0]
