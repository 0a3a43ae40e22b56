"""Feature families on synthetic arrays, with the expected values worked out by hand.

Stationary textures are the workhorse: on a texture with the same statistics everywhere,
every inside-versus-outside contrast is ~0, so a change made only inside the face mask (a
"pasted" face) shows up alone and with a known sign.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from _media import astronaut_bgr, noise_crop

from common.faces import crop_square
from common.features import (
    ALL_FAMILIES,
    CLIP_FAMILIES,
    CLIP_NAMES,
    DEFAULT_FAMILIES,
    FAMILIES,
    FAMILY_NAMES,
    FEATURE_VERSION,
    FeatureFamily,
    FrameFn,
    compatible,
    frame_slices,
    frame_vector,
    select,
    select_clips,
    video_layout,
    video_length,
    video_vector,
)
from common.features.boundary import boundary_features
from common.features.colour import COLUMNS as COLOUR_COLUMNS
from common.features.colour import LENGTH as COLOUR_LENGTH
from common.features.colour import colour_features
from common.features.flicker import LENGTH as FLICKER_LENGTH
from common.features.iqm import MEASURES, iqm_features
from common.features.landmarks import LENGTH as LANDMARK_LENGTH
from common.features.regions import regions
from common.features.spectrum import BINS, spectrum_features
from common.features.surround import COLUMNS as SURROUND_COLUMNS
from common.features.surround import LENGTH as SURROUND_LENGTH
from common.features.surround import surround_features
from common.features.temporal import temporal_features
from common.features.texture import NBINS, RADII, RIU2, P, lbp_riu2, texture_features
from common.features.upsampling import LENGTH as UPSAMPLING_LENGTH
from common.types import Box

S = 128
BOX = Box(24, 24, 80, 80)  # the face box inside the crop (a 1.6 margin would give 80 of 128)

# boundary_features column names, in order.
B = {
    name: i
    for i, name in enumerate(
        [
            "sharp_io",
            "sharp_bo",
            "sharp_bi",
            "noise_io",
            "noise_bo",
            "seam",
            "seam_frac",
            "dL",
            "da",
            "db",
            "std_a",
            "std_b",
            "grad_io",
        ]
    )
}


def texture(seed: int, sigma: float = 1.0, contrast: float = 20.0) -> np.ndarray:
    """A stationary colour texture: smoothed Gaussian noise around mid grey."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(0, 1, (S, S, 3)).astype(np.float32), (0, 0), sigma)
    return np.clip(128 + contrast * base / base.std(), 0, 255).astype(np.uint8)


def paste(crop: np.ndarray, replacement: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Replace the inside of the mask, with a hard edge on its contour."""
    return np.where(mask[..., None] > 0.5, replacement, crop).astype(np.uint8)


def gray_bgr(g: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(g, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def blur(crop: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return cv2.GaussianBlur(crop, (0, 0), sigma)


# --------------------------------------------------------------------------- registry


def test_registry_order_and_version() -> None:
    frame = ("frequency", "quality", "boundary", "texture", "surround", "colour", "upsampling")
    assert frame == FAMILY_NAMES
    assert CLIP_NAMES == ("flicker", "landmarks")
    assert (*FAMILY_NAMES, "temporal", *CLIP_NAMES) == ALL_FAMILIES
    assert isinstance(FEATURE_VERSION, str) and FEATURE_VERSION
    # Clip family names pass select() (a bundle lists them with the rest) and select_clips()
    # picks them, in registry order.
    assert select(["landmarks", "frequency"]) == select(["frequency"])
    assert [f.name for f in select_clips(["landmarks", "texture", "flicker"])] == [
        "flicker",
        "landmarks",
    ]
    with pytest.raises(ValueError, match="unknown"):
        select_clips(["wobble"])


def test_unchanged_families_keep_older_bundles_usable() -> None:
    old = ["frequency", "quality", "boundary", "texture", "temporal"]
    assert compatible(FEATURE_VERSION, [*old, "surround", "flicker"])
    assert compatible("1.1", old)
    assert not compatible("1.1", [*old, "surround"])  # 1.1 had no surround family
    # 1.3 only added colour and upsampling: a 1.2 bundle of every family of its day still loads.
    in_1_2 = [*old, "surround", "flicker", "landmarks"]
    assert FEATURE_VERSION == "1.3" and compatible("1.2", in_1_2)
    assert not compatible("1.2", [*in_1_2, "colour"]) and not compatible("1.2", ["upsampling"])
    assert not compatible("1.0", old) and not compatible(None, old)
    assert select(None) == FAMILIES
    # Selection keeps registry order whatever order is asked for.
    assert [f.name for f in select(["texture", "frequency"])] == ["frequency", "texture"]
    with pytest.raises(ValueError, match="unknown"):
        select(["frequency", "color"])


def test_families_added_after_1_2_are_opt_in() -> None:
    """`dfscan train` (and so scripts/train-default) measures what it measured before colour
    and upsampling existed; they are trained on only when asked for by name."""
    before = ("frequency", "quality", "boundary", "texture", "surround", "flicker", "landmarks")
    assert before == DEFAULT_FAMILIES
    assert {"colour", "upsampling"} <= set(ALL_FAMILIES) - set(DEFAULT_FAMILIES)
    assert [f.name for f in select(["upsampling", "colour"])] == ["colour", "upsampling"]


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.name)
def test_family_output_matches_registry_length(
    fam: FeatureFamily, face: np.ndarray, mask: np.ndarray
) -> None:
    v = fam.fn(face, mask)
    assert v.shape == (fam.length,) and v.dtype == np.float32
    assert np.isfinite(v).all()
    # A family that names its columns (explain pages, docs/artifacts.md) names each one.
    columns = getattr(sys.modules[fam.fn.__module__], "COLUMNS", None)
    assert columns is None or len(columns) == fam.length


@pytest.mark.parametrize(
    ("fn", "columns", "tolerance"),
    [(surround_features, SURROUND_COLUMNS, 0.2), (colour_features, COLOUR_COLUMNS, 0.1)],
    ids=["surround", "colour"],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_face_against_surround_is_neutral_on_untouched_texture(
    fn: FrameFn, columns: tuple[str, ...], tolerance: float, seed: int, mask: np.ndarray
) -> None:
    # Every column compares the inner face with the ring of the same crop: without a paste
    # there is nothing to tell them apart.
    v = fn(noise_crop(seed), mask)
    assert np.abs(v).max() < tolerance, dict(zip(columns, v.round(3), strict=True))


def test_documented_lengths() -> None:
    lengths = {f.name: f.length for f in FAMILIES}
    assert lengths == {
        "frequency": 2 * BINS,
        "quality": 2 * len(MEASURES),
        "boundary": 13,
        "texture": 2 * len(RADII) * NBINS,
        "surround": SURROUND_LENGTH,
        "colour": COLOUR_LENGTH,
        "upsampling": UPSAMPLING_LENGTH,
    }
    assert {f.name: f.length for f in CLIP_FAMILIES} == {
        "flicker": FLICKER_LENGTH,
        "landmarks": LANDMARK_LENGTH,
    }


@pytest.mark.parametrize(
    "names", [None, ["frequency"], ["boundary", "texture"], ["quality", "boundary"]]
)
@pytest.mark.parametrize("temporal", [True, False])
def test_vector_lengths(
    names: list[str] | None, temporal: bool, face: np.ndarray, mask: np.ndarray
) -> None:
    fams = select(names)
    d = sum(f.length for f in fams)
    fv = frame_vector(face, mask, fams)
    assert fv.shape == (d,)
    frames = np.stack([fv, frame_vector(blur(face, 1.0), mask, fams), fv])
    vv = video_vector(frames, fams, temporal)
    assert vv.shape == (video_length(fams, temporal),)
    assert video_length(fams, temporal) == 2 * d + (2 * len(fams) if temporal else 0)
    # The layout covers every column exactly once.
    layout = video_layout(fams, temporal)
    cols = sorted(c for cs in layout.values() for c in cs)
    assert cols == list(range(len(vv)))
    assert set(layout) == {f.name for f in fams} | ({"temporal"} if temporal else set())


@pytest.mark.parametrize("temporal", [True, False])
def test_mean_only_vector_drops_exactly_the_spread_columns(
    temporal: bool, face: np.ndarray, mask: np.ndarray
) -> None:
    fams = select(["quality", "boundary"])
    d = sum(f.length for f in fams)
    frames = np.stack([frame_vector(blur(face, s), mask, fams) for s in (0.5, 1.0, 1.5)])
    full = video_vector(frames, fams, temporal)
    lean = video_vector(frames, fams, temporal, spread=False)
    assert lean.shape == (video_length(fams, temporal, spread=False),) == (len(full) - d,)
    np.testing.assert_array_equal(lean, np.r_[full[:d], full[2 * d :]])
    layout = video_layout(fams, temporal, spread=False)
    assert sorted(c for cs in layout.values() for c in cs) == list(range(len(lean)))
    for fam, sl in zip(fams, frame_slices(fams), strict=True):  # each family: its means only
        assert layout[fam.name] == list(range(sl.start, sl.stop))


def test_video_vector_is_mean_spread_temporal(face: np.ndarray, mask: np.ndarray) -> None:
    fams = select(None)
    frames = np.stack([frame_vector(blur(face, s), mask, fams) for s in (0.5, 1.0, 1.5)])
    vv = video_vector(frames, fams)
    d = frames.shape[1]
    np.testing.assert_allclose(vv[:d], frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(vv[d : 2 * d], frames.std(axis=0), rtol=1e-5, atol=1e-6)


def test_frame_vector_rejects_a_family_of_the_wrong_length(
    face: np.ndarray, mask: np.ndarray
) -> None:
    liar = FeatureFamily("liar", lambda c, m: np.zeros(3, np.float32), 4, "test")
    with pytest.raises(ValueError, match="liar"):
        frame_vector(face, mask, [liar])


def test_frame_vector_replaces_non_finite(mask: np.ndarray) -> None:
    bad = FeatureFamily("bad", lambda c, m: np.array([np.nan, np.inf, -np.inf, 1.0]), 4, "t")
    v = frame_vector(np.zeros((S, S, 3), np.uint8), mask, [bad])
    assert v.tolist() == [0.0, 0.0, 0.0, 1.0]


# --------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize(
    "crop_shape, crop_dtype, mask_shape",
    [
        ((S, S, 3), np.float32, (S, S)),  # float crop
        ((S, S, 3), np.uint16, (S, S)),  # 16-bit crop
        ((S, S), np.uint8, (S, S)),  # grey crop
        ((S, S, 4), np.uint8, (S, S)),  # BGRA crop
        ((S, S, 3), np.uint8, (S, S // 2)),  # mask of another size
        ((S, S, 3), np.uint8, (S, S, 1)),  # mask with a channel axis
    ],
)
def test_wrong_shapes_and_dtypes_raise(
    fam: FeatureFamily, crop_shape: tuple, crop_dtype: type, mask_shape: tuple
) -> None:
    crop = np.zeros(crop_shape, crop_dtype)
    with pytest.raises(ValueError):
        fam.fn(crop, np.ones(mask_shape, np.float32))


def test_aggregation_input_checks() -> None:
    fams = select(None)
    with pytest.raises(ValueError):
        video_vector(np.zeros((0, 10), np.float32), fams)
    with pytest.raises(ValueError):
        video_vector(np.zeros(10, np.float32), fams)
    with pytest.raises(ValueError):
        temporal_features(np.zeros(10, np.float32), [slice(0, 10)])


# --------------------------------------------------------------------------- frequency


@pytest.mark.parametrize(("period", "expected_bin"), [(4, 5), (8, 2)])
def test_spectrum_peaks_at_the_pattern_frequency(
    period: int, expected_bin: int, mask: np.ndarray
) -> None:
    # A vertical sinusoid of period p has radius (1/p) / (1/2) = 2/p of Nyquist. The bins
    # split radius 0.05..1 in 12: radius 0.5 falls in bin 5, radius 0.25 in bin 2.
    x = np.arange(S)[None, :].repeat(S, axis=0)
    crop = gray_bgr(127.5 + 100 * np.sin(2 * np.pi * x / period))
    prof = spectrum_features(crop, mask)[:BINS]
    assert prof[0] == 0.0  # the profile is relative to the lowest band
    assert int(np.argmax(prof[1:])) + 1 == expected_bin


def test_white_noise_has_a_flat_spectrum(mask: np.ndarray) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (S, S, 3), np.uint8)
    f = spectrum_features(noise, mask)
    assert np.abs(f[:BINS]).max() < 1.0  # flat within noise, relative to bin 0
    assert np.abs(f[BINS:]).max() < 1.0  # and the inner face matches the whole crop


def test_blurred_face_has_less_high_frequency_energy(face: np.ndarray, mask: np.ndarray) -> None:
    sharp = spectrum_features(face, mask)[:BINS]
    blurred = spectrum_features(blur(face), mask)[:BINS]
    # Gaussian blur of sigma 2 multiplies power at radius r (of Nyquist) by
    # exp(-(sigma * pi * r)^2): already 1/50 at r = 0.32, so every upper bin drops a lot.
    high = slice(BINS // 2, BINS)
    assert (blurred[high] < sharp[high] - 2.0).all()
    assert blurred[high].mean() < sharp[high].mean() - 4.0


def test_frequency_ignores_contrast_and_brightness(face: np.ndarray, mask: np.ndarray) -> None:
    g = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(np.float32)
    a = spectrum_features(gray_bgr(g * 0.5 + 40), mask)
    b = spectrum_features(gray_bgr(g * 0.5 + 80), mask)
    np.testing.assert_allclose(a, b, atol=0.05)


# --------------------------------------------------------------------------- quality


def test_quality_checkerboard_by_hand(mask: np.ndarray) -> None:
    # A 1-px checkerboard of 0 and 1: a sigma-1 blur leaves 0.5 everywhere (the Gaussian
    # passes ~5e-5 at the (pi, pi) frequency). So d = +-0.5: MSE 0.25, AD 0.5, MD 0.5,
    # NAE sum|d| / sum|a| = 1, SC sum a^2 / sum b^2 = 0.5 / 0.25 = 2, NXC = 0.25 / 0.5 = 0.5,
    # LMSE ~1 (the blurred Laplacian ~0), GME 0 (Sobel of a period-2 pattern is 0).
    y, x = np.mgrid[0:S, 0:S]
    crop = gray_bgr(((x + y) % 2) * 255)
    f = iqm_features(crop, mask)
    inner = np.exp(f[: len(MEASURES)]) - 1e-6
    expected = [0.25, 0.5, 1.0, 0.5, 2.0, 0.5, 1.0, 0.0]
    np.testing.assert_allclose(inner, expected, rtol=0.01, atol=1e-4)
    # A stationary pattern: the inside matches the outside, all ratios 0.
    np.testing.assert_allclose(f[len(MEASURES) :], 0.0, atol=0.01)


def test_quality_constant_image(mask: np.ndarray) -> None:
    # Blurring a constant changes nothing (up to float rounding): MSE, AD and MD are ~0,
    # i.e. log(0 + 1e-6); structural content and cross-correlation are exactly 1 (log 0).
    f = iqm_features(np.full((S, S, 3), 77, np.uint8), mask)
    for name in ("mse", "ad", "md"):
        assert f[MEASURES.index(name)] < np.log(1e-5), name
    for name in ("sc", "nxc"):
        assert f[MEASURES.index(name)] == pytest.approx(0.0, abs=1e-4), name


def test_blurred_face_is_closer_to_its_own_blur(face: np.ndarray, mask: np.ndarray) -> None:
    # MSE, AD, MD and gradient error against the blurred copy all fall for a blurred face.
    sharp = iqm_features(face, mask)
    blurred = iqm_features(blur(face), mask)
    for name in ("mse", "ad", "md", "gme"):
        i = MEASURES.index(name)
        assert blurred[i] < sharp[i] - 1.0, name


def test_quality_sees_a_blurred_paste(mask: np.ndarray) -> None:
    tex = texture(0)
    faked = paste(tex, blur(tex), mask)
    ratio_mse = len(MEASURES) + MEASURES.index("mse")
    assert abs(iqm_features(tex, mask)[ratio_mse]) < 0.2
    assert iqm_features(faked, mask)[ratio_mse] < -2.0  # inside far smoother than outside


# --------------------------------------------------------------------------- boundary


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boundary_untouched_texture_is_neutral(seed: int, mask: np.ndarray) -> None:
    f = boundary_features(texture(seed), mask)
    for name in ("sharp_io", "sharp_bo", "noise_io", "dL", "da", "db", "std_a", "grad_io"):
        assert abs(f[B[name]]) < 0.2, name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boundary_blurred_paste(seed: int, mask: np.ndarray) -> None:
    tex = texture(seed)
    real, fake = boundary_features(tex, mask), boundary_features(paste(tex, blur(tex), mask), mask)
    assert fake[B["sharp_io"]] < -1.0 and abs(fake[B["sharp_io"]]) > abs(real[B["sharp_io"]]) + 1
    assert fake[B["noise_io"]] < -1.0
    assert fake[B["sharp_bi"]] > real[B["sharp_bi"]] + 1.0  # the hard edge vs a smooth inside


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boundary_noisier_paste(seed: int, mask: np.ndarray) -> None:
    tex = texture(seed)
    noisy = np.clip(tex + np.random.default_rng(9).normal(0, 10, tex.shape), 0, 255)
    real, fake = boundary_features(tex, mask), boundary_features(paste(tex, noisy, mask), mask)
    assert fake[B["sharp_io"]] > real[B["sharp_io"]] + 0.4
    assert fake[B["noise_io"]] > real[B["noise_io"]] + 0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boundary_brighter_paste_raises_the_seam(seed: int, mask: np.ndarray) -> None:
    # +25 grey levels inside: OpenCV's 8-bit L is 255/100 per L* unit and grey maps L* to
    # value linearly enough here, so L inside - L outside ~ 25, and dL = 25 / 32 ~ 0.78.
    tex = texture(seed)
    brighter = np.clip(tex.astype(int) + 25, 0, 255)
    real, fake = boundary_features(tex, mask), boundary_features(paste(tex, brighter, mask), mask)
    assert fake[B["dL"]] == pytest.approx(25 / 32, abs=0.12)
    assert abs(real[B["dL"]]) < 0.1
    assert fake[B["seam"]] > real[B["seam"]] + 0.15  # edges along the contour
    assert fake[B["sharp_bo"]] > real[B["sharp_bo"]] + 0.15


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boundary_colour_shifted_paste(seed: int, mask: np.ndarray) -> None:
    # Less blue, more red inside (a different skin tone): a* (green-red) and b* (blue-yellow)
    # both rise inside the contour.
    tex = texture(seed)
    shifted = np.clip(tex.astype(int) + np.array([-20, 0, 25]), 0, 255)
    real, fake = boundary_features(tex, mask), boundary_features(paste(tex, shifted, mask), mask)
    assert fake[B["da"]] > real[B["da"]] + 0.1
    assert fake[B["db"]] > real[B["db"]] + 0.3
    col = [B["dL"], B["da"], B["db"]]
    assert np.linalg.norm(fake[col]) > np.linalg.norm(real[col]) + 0.3


def test_boundary_on_a_real_face_with_a_pasted_blur(face: np.ndarray, mask: np.ndarray) -> None:
    real = boundary_features(face, mask)
    fake = boundary_features(paste(face, blur(face), mask), mask)
    assert fake[B["sharp_io"]] < real[B["sharp_io"]] - 1.0
    assert fake[B["noise_io"]] < real[B["noise_io"]] - 1.0


# --------------------------------------------------------------------------- texture


def test_lbp_by_hand() -> None:
    # Neighbours >= centre give 1. A local maximum has code 0; a flat pixel (all neighbours
    # equal) has all 8 bits set, i.e. riu2 label P. A bright pixel just above a horizontal
    # edge sees 3 darker neighbours below and 5 equal ones: a uniform pattern of 5 ones.
    g = np.zeros((7, 7), np.float32)
    g[3, 3] = 1.0
    codes = lbp_riu2(g, 1)
    assert codes[3, 3] == 0
    assert codes[0, 0] == P
    edge = np.zeros((6, 6), np.float32)
    edge[:3] = 1.0
    codes = lbp_riu2(edge, 1)
    assert (codes[2, 1:-1] == 5).all()  # bright row above the edge
    assert (codes[3, 1:-1] == P).all()  # dark row below it: every neighbour >= it
    # A 1-px checkerboard: a 1-pixel sees 0 at its 4 edge neighbours and 1 on the diagonals
    # (nearest-pixel sampling at radius 1): 8 transitions, non-uniform, label P + 1. A
    # 0-pixel has every neighbour >= it: label P.
    cb = (np.indices((6, 6)).sum(axis=0) % 2).astype(np.float32)
    codes = lbp_riu2(cb, 1)[1:-1, 1:-1]
    np.testing.assert_array_equal(codes, np.where(cb[1:-1, 1:-1] == 1, P + 1, P))


def test_lbp_histograms_sum_to_one(face: np.ndarray, mask: np.ndarray) -> None:
    f = texture_features(face, mask)
    for k in range(len(RADII)):
        hist = f[2 * k * NBINS : (2 * k + 1) * NBINS]
        diff = f[(2 * k + 1) * NBINS : (2 * k + 2) * NBINS]
        assert (hist >= 0).all()
        assert hist.sum() == pytest.approx(1.0, abs=1e-5)
        assert diff.sum() == pytest.approx(0.0, abs=1e-5)  # difference of two histograms


def test_lbp_constant_image_single_bin(mask: np.ndarray) -> None:
    f = texture_features(np.full((S, S, 3), 140, np.uint8), mask)
    for k in range(len(RADII)):
        hist = f[2 * k * NBINS : (2 * k + 1) * NBINS]
        diff = f[(2 * k + 1) * NBINS : (2 * k + 2) * NBINS]
        expected = np.zeros(NBINS, np.float32)
        expected[P] = 1.0
        np.testing.assert_array_equal(hist, expected)
        np.testing.assert_array_equal(diff, 0.0)


def test_texture_is_brightness_invariant(mask: np.ndarray) -> None:
    # LBP compares neighbours: a uniform offset (without clipping) changes no code.
    tex = texture(3)
    assert tex.max() < 225
    brighter = (tex.astype(int) + 30).astype(np.uint8)
    np.testing.assert_array_equal(texture_features(tex, mask), texture_features(brighter, mask))


@pytest.mark.parametrize("shape", [(128, 128), (7, 7), (1, 1), (2, 9)])
@pytest.mark.parametrize("radius", [1, 2])
def test_lbp_matches_a_direct_implementation(shape: tuple[int, int], radius: int) -> None:
    # The straightforward definition: edge padding, nearest-pixel neighbours, bit k set
    # where neighbour k >= centre, then the riu2 lookup; float and uint8 grey alike.
    g = np.random.default_rng(radius).integers(0, 4, shape).astype(np.float32)
    pad = np.pad(g, radius, mode="edge")
    h, w = shape
    code = np.zeros(shape, np.int64)
    for k in range(P):
        ang = 2 * np.pi * k / P
        dy, dx = int(round(-radius * np.sin(ang))), int(round(radius * np.cos(ang)))
        nb = pad[radius + dy : radius + dy + h, radius + dx : radius + dx + w]
        code |= (nb >= g).astype(np.int64) << k
    np.testing.assert_array_equal(lbp_riu2(g, radius), RIU2[code])
    np.testing.assert_array_equal(lbp_riu2(g.astype(np.uint8), radius), RIU2[code])


# --------------------------------------------------------------------------- regions


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


@pytest.mark.parametrize("size", [20, 64, 128, 256])
def test_regions_equal_direct_disc_filters(size: int) -> None:
    # regions() builds the 2r-disc filters from the r-disc ones; they must equal the direct
    # filters exactly, also where the mask touches the crop's edge or has holes.
    rng = np.random.default_rng(size)
    k = max(2, size // 32)
    for _ in range(20):
        mask = np.zeros((size, size), np.float32)
        for _ in range(3):
            centre = (int(rng.integers(-size // 6, size + size // 6)),) * 2
            axes = (int(rng.integers(1, size // 2)), int(rng.integers(1, size // 2)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask[rng.random(mask.shape) > 0.97] = 0.0  # pepper holes
        m = (mask > 0.5).astype(np.uint8)
        reg = regions(mask)
        inner = cv2.erode(m, _disc(2 * k)) > 0
        band = (cv2.dilate(m, _disc(k)) - cv2.erode(m, _disc(k))) > 0
        outer = (cv2.dilate(m, _disc(4 * k)) - cv2.dilate(m, _disc(2 * k))) > 0
        np.testing.assert_array_equal(reg.inner, inner)
        np.testing.assert_array_equal(reg.band, band)
        np.testing.assert_array_equal(reg.outer, outer)
        # The gathered segments are those regions' pixels, each listed once.
        assert reg.counts.sum() == inner.sum() + band.sum() + outer.sum() == len(reg.index)
        assert sorted(reg.index) == sorted(np.flatnonzero(inner | band | outer))


# --------------------------------------------------------------------------- temporal


def test_temporal_single_frame_is_zero() -> None:
    slices = [slice(0, 3), slice(3, 5)]
    out = temporal_features(np.random.default_rng(0).normal(size=(1, 5)), slices)
    assert out.shape == (4,) and (out == 0).all()
    # And through video_vector: one frame has zero spread and zero temporal change.
    fams = select(None)
    d = sum(f.length for f in fams)
    vv = video_vector(np.ones((1, d), np.float32), fams)
    assert (vv[d:] == 0).all()


def test_temporal_smooth_ramp_by_hand() -> None:
    # x_t = c * t for 16 frames: every step is c, the spread is c * sqrt((16^2 - 1) / 12).
    c = 0.5
    frames = c * np.arange(16, dtype=np.float64)[:, None].repeat(4, axis=1)
    out = temporal_features(frames, [slice(0, 4)])
    assert out[0] == pytest.approx(np.log(c), abs=1e-4)
    assert out[1] == pytest.approx(1 / np.sqrt((16**2 - 1) / 12), rel=1e-3)


def test_temporal_jitter_is_larger_than_smooth_motion() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(400)[:, None]
    smooth = np.sin(t / 40.0) + 0.01 * rng.normal(size=(400, 6))
    jitter = rng.normal(size=(400, 6))
    s = temporal_features(smooth, [slice(0, 6)])
    j = temporal_features(jitter, [slice(0, 6)])
    assert j[0] > s[0] + 1.0
    # For independent normal frames, E|x_t+1 - x_t| = 2 sigma / sqrt(pi) ~ 1.13 sigma.
    assert j[1] == pytest.approx(2 / np.sqrt(np.pi), rel=0.08)
    assert s[1] < 0.1


def test_temporal_per_family(face: np.ndarray, mask: np.ndarray) -> None:
    # Only the texture columns jitter: the texture pair rises, the others see no change.
    fams = select(None)
    slices = frame_slices(fams)
    frames = np.repeat(frame_vector(face, mask, fams)[None], 8, axis=0)
    tex = slices[FAMILY_NAMES.index("texture")]
    noise = np.random.default_rng(1).normal(0, 0.05, (8, tex.stop - tex.start))
    frames[:, tex] += noise.astype(np.float32)
    steps = temporal_features(frames, slices)[0::2]
    assert int(np.argmax(steps)) == FAMILY_NAMES.index("texture")
    others = [k for k, name in enumerate(FAMILY_NAMES) if name != "texture"]
    np.testing.assert_allclose(steps[others], np.log(1e-6), rtol=1e-5)


# --------------------------------------------------------------------------- no metadata


def test_same_crop_same_vector(face: np.ndarray, mask: np.ndarray) -> None:
    fams = select(None)
    a = frame_vector(face, mask, fams)
    # Another array object, another memory layout: the same pixels give the same numbers.
    b = frame_vector(np.asfortranarray(face.copy()), mask.copy(), fams)
    big = np.zeros((S + 10, S + 20, 3), np.uint8)
    big[5 : 5 + S, 10 : 10 + S] = face
    c = frame_vector(big[5 : 5 + S, 10 : 10 + S], mask, fams)  # a non-contiguous view
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_frame_size_and_file_encoding_do_not_leak(tmp_path: Path, mask: np.ndarray) -> None:
    """The same face in a bigger frame, or in a PNG of another size on disk, measures the
    same: every feature sees only the canonical crop."""
    img = astronaut_bgr()
    box = Box(178, 66, 94, 94)
    padded = cv2.copyMakeBorder(img, 40, 120, 70, 10, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    crop_a, _ = crop_square(img, box, S)
    crop_b, _ = crop_square(padded, Box(box.x + 70, box.y + 40, box.w, box.h), S)
    np.testing.assert_array_equal(crop_a, crop_b)
    fams = select(None)
    np.testing.assert_array_equal(
        frame_vector(crop_a, mask, fams), frame_vector(crop_b, mask, fams)
    )
    sizes, vectors = [], []
    for level in (0, 9):
        p = tmp_path / f"face_{level}.png"
        cv2.imwrite(str(p), crop_a, [cv2.IMWRITE_PNG_COMPRESSION, level])
        sizes.append(p.stat().st_size)
        vectors.append(frame_vector(cv2.imread(str(p)), mask, fams))
    assert sizes[0] != sizes[1]
    np.testing.assert_array_equal(vectors[0], vectors[1])


_EXTRACT_IN_A_FRESH_PROCESS = """
import hashlib, sys
from common.extract import ExtractConfig, extract
from common.features import FAMILIES
from common.settings import Settings
ex = extract(sys.argv[1], Settings(), ExtractConfig(FAMILIES, frames=8, sampling="segments"))
sys.stdout.write(hashlib.sha256(ex.frame_matrix.tobytes()).hexdigest())
"""


def test_features_are_the_same_in_every_process(tmp_path: Path) -> None:
    # The same evidence must get the same score on a re-run: no feature may depend on where
    # a process happens to allocate its arrays (cv2.magnitude did, by 1 ulp, and a scan's
    # allocations differ from one process to the next).
    import subprocess
    import sys

    from _media import write_face_video

    clip = write_face_video(tmp_path / "face.mp4", n=24)
    runs = {
        subprocess.run(
            [sys.executable, "-c", _EXTRACT_IN_A_FRESH_PROCESS, str(clip)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for _ in range(4)
    }
    assert len(runs) == 1 and len(next(iter(runs))) == 64
