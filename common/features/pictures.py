"""Pictures of what each feature family measures, keyed by family name, beside the registry.

An explain page (``dfscan explain``) shows every family of the registry. A frame family with
an entry in :data:`PICTURES` gets its own picture: a pure function ``(crop, mask) ->
Picture`` of one face crop, giving maps over the crop and curves or bars (numbers only: the
drawing is done above, in ``models.pages``), and named **measures**: positive magnitudes
such as "boundary residual", compared between two videos as ratios ("2.3x the real's"). A
clip family (over the face track) gets its own from ``CLIP_PICTURES`` of
:mod:`common.features.clip_pictures`, a function ``FaceTrack -> Picture``. A family with no
entry (a new one, or the temporal family) is drawn by :func:`values_picture`: its per-frame
values as curves over the sampled frames, or its values as bars when it has one vector per
clip. Adding a family's own picture is one
function here and one line in a mapping. Column names come from :data:`COLUMNS`, else from
the ``COLUMNS`` of the family function's module when their number fits, else ``name[k]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from common.features.boundary import boundary_features
from common.features.colour import COLUMNS as COLOUR_COLUMNS
from common.features.colour import colour_features
from common.features.iqm import MEASURES, iqm_features
from common.features.regions import gray8, gray32, regions
from common.features.spectrum import BINS, spectrum_features
from common.features.surround import BAND_SIGMAS, SRM_FILTERS, surround_features
from common.features.surround import COLUMNS as SURROUND_COLUMNS
from common.features.texture import NBINS, RADII, P, lbp_riu2, texture_features
from common.features.upsampling import COLUMNS as UPSAMPLING_COLUMNS
from common.features.upsampling import PATCH, region_spectra, upsampling_features
from common.types import FaceTrack


@dataclass(frozen=True, slots=True)
class Panel:
    """One drawing: a ``map`` (H, W) over the crop, ``curve``/``bars`` (K series, N points),
    or ``tracks`` (N, 4): rows (x, y, group, track), the points of one track joined in order,
    coloured by group (named by ``series``), y up, drawn like a map: one per video.

    ``outline``: draw the face regions (mask edge, blend band) over a map; ``cmap``: the
    map's matplotlib colour map; ``vrange``: its fixed value range (default: one range over
    the videos shown, so side-by-side maps compare); ``ticks``: names of bars' N points.
    """

    title: str
    kind: Literal["map", "curve", "bars", "tracks"]
    data: np.ndarray
    x: np.ndarray | None = None
    series: tuple[str, ...] = ()
    ticks: tuple[str, ...] = ()
    xlabel: str = ""
    ylabel: str = ""
    cmap: str = "magma"
    vrange: tuple[float, float] | None = None
    outline: bool = False

    def __post_init__(self) -> None:
        if self.data.ndim != 2:
            raise ValueError(f"panel {self.title!r}: want a 2-D array, got {self.data.shape}")


@dataclass(frozen=True, slots=True)
class Picture:
    """A family's panels for one crop, and its named measures (positive magnitudes)."""

    panels: tuple[Panel, ...]
    measures: dict[str, float] = field(default_factory=dict)


PictureFn = Callable[[np.ndarray, np.ndarray], Picture]
ClipPictureFn = Callable[[FaceTrack], Picture]


def _band_centres() -> np.ndarray:
    edges = np.linspace(0.05, 1.0, BINS + 1)  # the radial bins of common.features.spectrum
    return (edges[:-1] + edges[1:]) / 2


def _log_spectrum(gray: np.ndarray) -> np.ndarray:
    """Centred 2-D log power spectrum, windowed as the family windows it."""
    h, w = gray.shape
    x = (gray - gray.mean()) * np.outer(np.hanning(h), np.hanning(w))
    f = np.fft.fftshift(np.fft.fft2(x))
    return np.log(np.abs(f) ** 2 + 1e-10)


def frequency_picture(crop: np.ndarray, mask: np.ndarray) -> Picture:
    """The azimuthal spectrum curves the family reads, and the inner face's 2-D spectrum."""
    v = spectrum_features(crop, mask)
    inner, rel = v[:BINS], v[BINS:]
    g = gray32(crop)
    s, q = g.shape[0], g.shape[0] // 4
    top = slice(BINS - BINS // 3, BINS)  # the outer third of the radii: the tail that bends
    curve = Panel(
        "azimuthal spectrum",
        "curve",
        np.stack([inner, inner - rel]),
        x=_band_centres(),
        series=("inner face", "whole crop"),
        xlabel="radius (fraction of Nyquist)",
        ylabel="log power, rel. lowest band",
    )
    spectrum = Panel("2-D log spectrum (inner face)", "map", _log_spectrum(g[q : s - q, q : s - q]))
    measures = {
        "high-frequency power": float(np.exp(inner[top]).mean()),
        "high-frequency power vs whole crop": float(np.exp(rel[top]).mean()),
    }
    return Picture((curve, spectrum), measures)


def _region_mean(values: np.ndarray, where: np.ndarray) -> float:
    return float(values[where].mean()) if where.any() else 0.0


def quality_picture(crop: np.ndarray, mask: np.ndarray) -> Picture:
    """What the face loses to a blur (the quality measures' reference), and their ratios."""
    img = gray32(crop)
    resid = np.abs(img - cv2.GaussianBlur(img, (0, 0), 1.0))
    reg = regions(mask)
    ratios = iqm_features(crop, mask)[len(MEASURES) :]
    inner = _region_mean(resid**2, reg.inner)
    outer = _region_mean(resid**2, reg.outer)
    panels = (
        Panel("blur residual |face - blurred|", "map", resid, outline=True),
        Panel(
            "quality measures, inner / outer",
            "bars",
            ratios[None, :],
            ticks=MEASURES,
            ylabel="log(inner / outer)",
        ),
    )
    measures = {"blur residual": inner, "blur residual inner/outer": inner / (outer + 1e-9)}
    return Picture(panels, measures)


BOUNDARY_COLUMNS = (
    "sharpness inner/outer",
    "sharpness band/outer",
    "sharpness band/inner",
    "noise inner/outer",
    "noise band/outer",
    "seam edges",
    "seam fraction",
    "L step at edge",
    "a step at edge",
    "b step at edge",
    "a spread inner/outer",
    "b spread inner/outer",
    "gradient inner/outer",
)


def boundary_picture(crop: np.ndarray, mask: np.ndarray) -> Picture:
    """Noise and sharpness maps with the blend band outlined, and the family's contrasts."""
    lum = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[..., 0]
    resid = np.abs(lum.astype(np.float32) - cv2.medianBlur(lum, 3).astype(np.float32)) / 255
    lap = np.abs(cv2.Laplacian(lum.astype(np.float32) / 255, cv2.CV_32F))
    reg = regions(mask)
    values = boundary_features(crop, mask)
    panels = (
        Panel("noise residual |L - median|", "map", resid, outline=True),
        Panel("sharpness |Laplacian|", "map", lap, outline=True),
        Panel(
            "inner / band / outer contrasts",
            "bars",
            values[None, :],
            ticks=BOUNDARY_COLUMNS,
            ylabel="log ratio or step",
        ),
    )
    band_resid = _region_mean(resid, reg.band)
    measures = {
        "boundary residual": band_resid,
        "boundary residual vs outside": band_resid / (_region_mean(resid, reg.outer) + 1e-9),
        "boundary sharpness": _region_mean(lap, reg.band),
    }
    return Picture(panels, measures)


def texture_picture(crop: np.ndarray, mask: np.ndarray) -> Picture:
    """The LBP code of every pixel (R=1) and the histograms the family compares."""
    v = texture_features(crop, mask)
    inner, diff = v[:NBINS], v[NBINS : 2 * NBINS]  # radius RADII[0]
    codes = lbp_riu2(gray8(crop), RADII[0]).astype(np.float32)
    ticks = (*(str(k) for k in range(P + 1)), "non-unif.")
    panels = (
        Panel(
            f"LBP riu2 codes (R={RADII[0]})",
            "map",
            codes,
            cmap="tab10",
            vrange=(-0.5, NBINS - 0.5),  # one colour per code, the same in every picture
            outline=True,
        ),
        Panel(
            f"LBP histograms (R={RADII[0]})",
            "bars",
            np.stack([inner, inner - diff]),
            series=("inner face", "outer ring"),
            ticks=ticks,
            ylabel="share of pixels",
        ),
    )
    measures = {"non-uniform LBP share": float(inner[P + 1]), "flat LBP share": float(inner[P])}
    return Picture(panels, measures)


def surround_picture(crop: np.ndarray, mask: np.ndarray) -> Picture:
    """The finest rich-model residual and the chroma detail, with the ring outlined, and the
    family's face-vs-ring log ratios."""
    ycc = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb).astype(np.float32) / 255
    y, cr = np.ascontiguousarray(ycc[..., 0]), np.ascontiguousarray(ycc[..., 1])
    srm = np.abs(cv2.filter2D(y, -1, SRM_FILTERS[3], borderType=cv2.BORDER_REFLECT))
    chroma = np.abs(cr - cv2.GaussianBlur(cr, (0, 0), BAND_SIGMAS[0]))
    ratios = surround_features(crop, mask)
    panels = (
        Panel("rich-model residual (5x5 KV)", "map", srm, outline=True),
        Panel("Cr detail |Cr - blurred|", "map", chroma, outline=True),
        Panel("face vs ring", "bars", ratios[None, :], ticks=SURROUND_COLUMNS, ylabel="log ratio"),
    )
    reg = regions(mask)
    measures = {
        "rich-model residual vs ring": _region_mean(srm, reg.inner)
        / (_region_mean(srm, reg.outer) + 1e-9),
        "chroma detail vs ring": _region_mean(chroma, reg.inner)
        / (_region_mean(chroma, reg.outer) + 1e-9),
    }
    return Picture(panels, measures)


def colour_picture(crop: np.ndarray, mask: np.ndarray) -> Picture:
    """Saturation and the red-green chroma over the crop, with the ring outlined, and the
    family's face-vs-ring differences."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    sat = hsv[..., 1].astype(np.float32) / 255
    values = colour_features(crop, mask)
    panels = (
        Panel("saturation (HSV S)", "map", sat, cmap="viridis", vrange=(0.0, 1.0), outline=True),
        Panel("red-green chroma (Lab a)", "map", (lab[..., 1] - 128) / 255, outline=True),
        Panel(
            "face vs ring",
            "bars",
            values[None, :],
            ticks=COLOUR_COLUMNS,
            ylabel="diff or log ratio",
        ),
    )
    reg = regions(mask)
    ab_in = [_region_mean(lab[..., c], reg.inner) for c in (1, 2)]
    ab_out = [_region_mean(lab[..., c], reg.outer) for c in (1, 2)]
    measures = {
        "chroma distance to ring": float(np.hypot(*np.subtract(ab_in, ab_out))),
        "saturation vs ring": _region_mean(sat, reg.inner) / (_region_mean(sat, reg.outer) + 1e-9),
    }
    return Picture(panels, measures)


def upsampling_picture(crop: np.ndarray, mask: np.ndarray) -> Picture:
    """|second differences| over the crop, the spectra of the |first difference| profiles
    inside and around the face (an enlarged face peaks at N/2 or N/4), and the family's
    face-minus-surround values."""
    g = gray32(crop)
    d2 = np.abs(cv2.Laplacian(g, cv2.CV_32F))
    values = upsampling_features(crop, mask)
    spectra = region_spectra(crop, mask)
    bins = PATCH // 2 + 1
    prof = np.ones((2, bins)) if spectra is None else spectra[0][:, 0]  # (region, bins) of d1
    rel = prof / (prof[:, 1:].mean(axis=1, keepdims=True) + 1e-12)
    panels = (
        Panel("|second differences| (Laplacian)", "map", d2, outline=True),
        Panel(
            "|first difference| profile spectrum",
            "curve",
            np.log(rel[:, 1:] + 1e-12),
            x=np.arange(1, bins) / PATCH,
            series=("inner face", "surround"),
            xlabel="cycles per pixel (0.5 = N/2)",
            ylabel="log power, rel. mean",
        ),
        Panel("face minus surround", "bars", values[None, :], ticks=UPSAMPLING_COLUMNS),
    )
    half = PATCH // 2
    peaks = rel[:, half] / (rel[:, half - 1] + 1e-12)
    measures = {
        "N/2 peak inside": float(peaks[0]),
        "N/2 peak vs surround": float(peaks[0] / (peaks[1] + 1e-12)),
    }
    return Picture(panels, measures)


# Family name -> its own picture. A family missing here is drawn by values_picture.
PICTURES: Mapping[str, PictureFn] = {
    "frequency": frequency_picture,
    "quality": quality_picture,
    "boundary": boundary_picture,
    "texture": texture_picture,
    "surround": surround_picture,
    "colour": colour_picture,
    "upsampling": upsampling_picture,
}

COLUMNS: Mapping[str, tuple[str, ...]] = {
    "frequency": (
        *(f"inner band {k + 1}" for k in range(BINS)),
        *(f"inner-whole band {k + 1}" for k in range(BINS)),
    ),
    "quality": (*(f"log {m} inner" for m in MEASURES), *(f"{m} inner/outer" for m in MEASURES)),
    "boundary": BOUNDARY_COLUMNS,
    "texture": tuple(
        f"R{r} {part} {'non-unif.' if k == P + 1 else k}"
        for r in RADII
        for part in ("inner", "inner-outer")
        for k in range(NBINS)
    ),
}


def column_names(name: str, length: int, fn: Callable | None = None) -> tuple[str, ...]:
    """Names of a family's columns (see the module docstring) that fit its ``length``."""
    module = sys.modules.get(getattr(fn, "__module__", ""), None)
    for own in (COLUMNS.get(name, ()), tuple(getattr(module, "COLUMNS", ()))):
        if len(own) == length:
            return own
    return tuple(f"{name}[{k}]" for k in range(length))


def values_picture(
    name: str,
    values: np.ndarray,
    frames: Sequence[int] | None = None,
    columns: Sequence[str] | None = None,
) -> Picture:
    """The generic picture of a family without one of its own: its values over the frames.

    ``values`` (T, L): one row per sampled frame (curves, one per column, over ``frames``),
    or a single row for a family measured once per clip (bars over its columns).
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    cols = tuple(columns) if columns is not None else column_names(name, values.shape[1])
    if values.shape[0] == 1:
        panel = Panel(f"{name} values", "bars", values, ticks=cols, ylabel="value")
    else:
        x = np.arange(values.shape[0]) if frames is None else np.asarray(frames)
        panel = Panel(
            f"{name} values over the frames",
            "curve",
            values.T,
            x=x,
            series=cols,
            xlabel="frame",
            ylabel="value",
        )
    return Picture((panel,))


def picture_of(name: str) -> PictureFn | None:
    return PICTURES.get(name)
