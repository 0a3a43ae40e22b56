"""Family pictures: each draws what its family measures, and its measures move as they should.

The crop is the astronaut's face (scikit-image); the "paste" changes only the inside of the
face mask, so a measure of the blend must move and one of the whole crop must not.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from common.features import CLIP_FAMILIES, CLIP_NAMES, FAMILIES, FAMILY_NAMES
from common.features.clip_pictures import CLIP_PICTURES
from common.features.pictures import (
    PICTURES,
    Panel,
    column_names,
    picture_of,
    values_picture,
)
from common.features.regions import regions
from common.features.spectrum import BINS, spectrum_features
from common.features.texture import NBINS, texture_features

S = 128


def pasted(crop: np.ndarray, mask: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """A blurred copy of the face pasted inside the mask: a crude swap's blend."""
    soft = cv2.GaussianBlur(crop, (0, 0), sigma)
    return np.where(mask[..., None] > 0.5, soft, crop).astype(np.uint8)


def test_every_picture_belongs_to_a_registry_family() -> None:
    # A picture keyed by a name the registry lost would never be shown.
    assert set(PICTURES) <= set(FAMILY_NAMES)
    assert set(CLIP_PICTURES) <= set(CLIP_NAMES)


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_pictures_are_drawable(name: str, face: np.ndarray, mask: np.ndarray) -> None:
    pic = PICTURES[name](face, mask)
    assert pic.panels and pic.measures
    for panel in pic.panels:
        assert np.isfinite(panel.data).all(), panel.title
        if panel.kind == "map":
            assert panel.data.shape[0] > 1 and panel.data.shape[1] > 1
        if panel.kind == "bars" and panel.ticks:
            assert len(panel.ticks) == panel.data.shape[1]
        if panel.series:
            assert len(panel.series) == panel.data.shape[0]
    assert all(np.isfinite(v) and v >= 0 for v in pic.measures.values())


def test_frequency_curve_is_the_familys_own_profile(face: np.ndarray, mask: np.ndarray) -> None:
    curve = picture_of("frequency")(face, mask).panels[0]  # type: ignore[misc]
    v = spectrum_features(face, mask)
    np.testing.assert_allclose(curve.data[0], v[:BINS])
    np.testing.assert_allclose(curve.data[0] - curve.data[1], v[BINS:], atol=1e-6)
    assert np.all(np.diff(curve.x) > 0) and curve.x[-1] < 1.0  # type: ignore[arg-type]


def test_texture_histograms_and_code_map(face: np.ndarray, mask: np.ndarray) -> None:
    code_map, hist = picture_of("texture")(face, mask).panels  # type: ignore[misc]
    v = texture_features(face, mask)
    np.testing.assert_allclose(hist.data[0], v[:NBINS])
    np.testing.assert_allclose(hist.data[0] - hist.data[1], v[NBINS : 2 * NBINS], atol=1e-6)
    codes = code_map.data
    assert codes.min() >= 0 and codes.max() <= NBINS - 1 and code_map.vrange == (-0.5, 9.5)


def test_a_paste_moves_the_blend_measures(face: np.ndarray, mask: np.ndarray) -> None:
    fake = pasted(face, mask)
    quality = (picture_of("quality")(face, mask), picture_of("quality")(fake, mask))  # type: ignore[misc]
    freq = (picture_of("frequency")(face, mask), picture_of("frequency")(fake, mask))  # type: ignore[misc]
    # The blurred inner face loses what a blur takes away, and its spectral tail.
    assert quality[1].measures["blur residual"] < 0.5 * quality[0].measures["blur residual"]
    assert (
        quality[1].measures["blur residual inner/outer"]
        < 0.5 * quality[0].measures["blur residual inner/outer"]
    )
    assert freq[1].measures["high-frequency power"] < freq[0].measures["high-frequency power"]


def test_boundary_residual_reads_the_band(face: np.ndarray, mask: np.ndarray) -> None:
    """Noise added on the blend band alone raises the boundary residual, not the outside."""
    band = regions(mask).band
    rng = np.random.default_rng(0)
    noisy = face.astype(np.int16)
    noisy[band] += rng.normal(0, 12, (int(band.sum()), 3)).astype(np.int16)
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    draw = picture_of("boundary")
    before, after = draw(face, mask), draw(noisy, mask)  # type: ignore[misc]
    assert after.measures["boundary residual"] > 2 * before.measures["boundary residual"]
    assert (
        after.measures["boundary residual vs outside"]
        > 2 * before.measures["boundary residual vs outside"]
    )
    residual_map = after.panels[0]
    assert residual_map.outline and residual_map.data.shape == mask.shape


def test_surround_reads_the_face_against_its_ring(face: np.ndarray, mask: np.ndarray) -> None:
    """Fine noise added inside the face alone raises its rich-model residual against the ring."""
    rng = np.random.default_rng(1)
    noisy = face.astype(np.int16) + (mask[..., None] > 0.5) * rng.normal(0, 6, face.shape)
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    draw = picture_of("surround")
    before, after = draw(face, mask), draw(noisy, mask)  # type: ignore[misc]
    key = "rich-model residual vs ring"
    assert after.measures[key] > 2 * before.measures[key]
    assert after.panels[2].ticks and len(after.panels[2].ticks) == after.panels[2].data.shape[1]


def test_colour_reads_a_cast_against_the_ring(face: np.ndarray, mask: np.ndarray) -> None:
    """A red cast inside the face alone moves its chroma away from the ring's."""
    inside = (mask[..., None] > 0.5) * np.array([0, 0, 25])
    cast = np.clip(face.astype(np.int16) + inside, 0, 255).astype(np.uint8)
    draw = picture_of("colour")
    before, after = draw(face, mask), draw(cast, mask)  # type: ignore[misc]
    key = "chroma distance to ring"
    assert after.measures[key] > 2 * before.measures[key]
    bars = after.panels[2]
    assert bars.ticks and len(bars.ticks) == bars.data.shape[1]


def test_upsampling_reads_an_enlarged_face(face: np.ndarray, mask: np.ndarray) -> None:
    """A face shrunk 2x and enlarged by repeating pixels, pasted: its profile peaks at N/2."""
    small = cv2.resize(face, (S // 2, S // 2), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (S, S), interpolation=cv2.INTER_NEAREST)
    fake = np.where(mask[..., None] > 0.5, big, face).astype(np.uint8)
    draw = picture_of("upsampling")
    before, after = draw(face, mask), draw(fake, mask)  # type: ignore[misc]
    key = "N/2 peak vs surround"
    assert after.measures[key] > 5 * before.measures[key]
    curve = after.panels[1]
    assert curve.kind == "curve" and curve.data.shape == (2, len(curve.x))  # type: ignore[arg-type]
    # The drawn curve is the family's own: its N/2 point stands above its neighbour inside.
    assert curve.data[0, -1] > curve.data[0, -2] + 1.0
    flat = draw(np.full_like(face, 90), mask)  # type: ignore[misc]
    assert all(np.isfinite(v) for v in flat.measures.values())


def test_generic_picture_over_frames_and_per_clip() -> None:
    values = np.arange(12.0).reshape(4, 3)
    pic = values_picture("new", values, [3, 5, 9, 11])
    (panel,) = pic.panels
    assert panel.kind == "curve" and panel.data.shape == (3, 4)
    np.testing.assert_array_equal(panel.x, [3, 5, 9, 11])
    assert panel.series == ("new[0]", "new[1]", "new[2]")
    (bars,) = values_picture("clip", np.array([1.0, -2.0])).panels
    assert bars.kind == "bars" and bars.ticks == ("clip[0]", "clip[1]")
    assert pic.measures == {}


def test_column_names_fit_the_registry() -> None:
    for fam in (*FAMILIES, *CLIP_FAMILIES):
        names = column_names(fam.name, fam.length, fam.fn)
        assert len(names) == fam.length and len(set(names)) == fam.length
        assert not any(n.startswith(f"{fam.name}[") for n in names), fam.name
    # A family whose length changed falls back to indexed names rather than wrong ones.
    assert column_names("boundary", 3) == ("boundary[0]", "boundary[1]", "boundary[2]")


def test_panel_wants_a_2d_array() -> None:
    with pytest.raises(ValueError, match="2-D"):
        Panel("x", "curve", np.zeros(3))
