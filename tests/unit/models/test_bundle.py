"""Model bundles: round trip, checksum and feature-version refusal *before* unpickling."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from common.features import (
    FAMILY_NAMES,
    FEATURE_VERSION,
    compatible,
    select,
    select_clips,
    video_length,
)
from common.settings import load_settings
from models.bundle import (
    DEFAULT_BUNDLE,
    META,
    PICKLE,
    SUMS,
    BundleError,
    ModelBundle,
    bundle_digest,
    load_bundle,
    save_bundle,
)
from models.classifier import make_pipeline
from models.trusted import Trust


def _fit(families: tuple[str, ...] = FAMILY_NAMES, temporal: bool = True, seed: int = 0):
    """A tiny pipeline on random vectors of the right length (fakes shifted by +1)."""
    d = video_length(select(families), temporal, select_clips(families))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, d)).astype(np.float32)
    y = np.array([0, 1] * 20)
    x[y == 1] += 1.0
    return make_pipeline(seed=seed).fit(x, y), x


def _bundle(families: tuple[str, ...] = FAMILY_NAMES, temporal: bool = True) -> ModelBundle:
    pipeline, _ = _fit(families, temporal)
    return ModelBundle(
        pipeline,
        {
            "name": "tiny",
            "families": list(families),
            "temporal": temporal,
            "threshold": 0.5,
            "training_data": {"description": "random vectors (test)"},
        },
    )


def _vectors(families: tuple[str, ...] = FAMILY_NAMES, temporal: bool = True) -> np.ndarray:
    d = video_length(select(families), temporal, select_clips(families))
    return np.random.default_rng(42).normal(size=(8, d)).astype(np.float32)


def _write_sums(folder: Path) -> None:
    """Re-sign a bundle folder after editing it (what an attacker with write access does)."""
    lines = "".join(
        f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in (PICKLE, META)
    )
    (folder / SUMS).write_text(lines)


def _vouched(folder: Path) -> ModelBundle:
    """Load as an operator who vouches for the folder as it is now (DFSCAN_MODEL_SHA256), so
    the other checks are what is tested (trust itself: test_trusted.py)."""
    return load_bundle(folder, Trust(digest=bundle_digest(folder)))


class _Trap:
    """Unpickling this runs code: it creates ``path``. Proves whether a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (exec, (f"open({str(self.path)!r}, 'w').close()",))


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, ModelBundle]:
    bundle = _bundle()
    folder = tmp_path / "bundle"
    save_bundle(bundle, folder)
    return folder, bundle


@pytest.fixture
def trapped(saved: tuple[Path, ModelBundle], tmp_path: Path) -> tuple[Path, Path]:
    """A checksummed bundle whose model.pkl is a trap; returns (folder, sentinel file)."""
    folder, _ = saved
    sentinel = tmp_path / "UNPICKLED"
    (folder / PICKLE).write_bytes(pickle.dumps(_Trap(sentinel)))
    _write_sums(folder)
    return folder, sentinel


# --------------------------------------------------------------------------- round trip


def test_round_trip_scores_identical(saved: tuple[Path, ModelBundle]) -> None:
    folder, bundle = saved
    x = _vectors()
    loaded = _vouched(folder)
    np.testing.assert_array_equal(loaded.score(x), bundle.score(x))
    assert ((loaded.score(x) >= 0) & (loaded.score(x) <= 1)).all()
    assert loaded.families == FAMILY_NAMES
    assert loaded.temporal is True
    assert loaded.threshold == 0.5
    assert loaded.version == bundle.version


def test_saved_metadata(saved: tuple[Path, ModelBundle]) -> None:
    folder, _ = saved
    meta = json.loads((folder / META).read_text())
    assert meta["feature_version"] == FEATURE_VERSION
    assert {"python", "numpy", "scikit-learn", "opencv"} <= set(meta["libraries"])
    assert meta["training_data"]["description"]
    digest = hashlib.sha256((folder / PICKLE).read_bytes()).hexdigest()
    assert meta["model_version"] == f"tiny-{digest[:12]}"
    sums = dict(reversed(line.split("  ")) for line in (folder / SUMS).read_text().splitlines())
    assert set(sums) == {PICKLE, META}
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def test_score_accepts_one_vector(saved: tuple[Path, ModelBundle]) -> None:
    folder, _ = saved
    bundle = _vouched(folder)
    x = _vectors()
    assert bundle.score(x[0]).shape == (1,)
    assert bundle.score(x[0])[0] == bundle.score(x)[0]


def test_the_trap_really_fires(trapped: tuple[Path, Path]) -> None:
    """Control for the refusal tests: with valid checksums the trap pickle does run."""
    folder, sentinel = trapped
    _vouched(folder)
    assert sentinel.exists()


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", [PICKLE, META])
@pytest.mark.parametrize("where", [0, 0.5, -1])
def test_flipped_byte_refused_before_unpickling(
    trapped: tuple[Path, Path], name: str, where: float
) -> None:
    folder, sentinel = trapped
    path = folder / name
    data = bytearray(path.read_bytes())
    i = int(where * (len(data) - 1)) if where >= 0 else len(data) - 1
    data[i] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        _vouched(folder)
    assert not sentinel.exists()


def test_feature_version_mismatch_refused(trapped: tuple[Path, Path]) -> None:
    folder, sentinel = trapped
    meta = json.loads((folder / META).read_text())
    meta["feature_version"] = "0.9"
    (folder / META).write_text(json.dumps(meta))
    _write_sums(folder)  # checksums correct: only the version is wrong
    with pytest.raises(BundleError) as exc:
        _vouched(folder)
    msg = str(exc.value)
    assert "'0.9'" in msg and repr(FEATURE_VERSION) in msg and "retrain" in msg
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.pop("feature_version"), "feature version"),  # missing feature version
        (lambda m: m.update(families=["frequency", "gaze"]), "gaze"),  # unknown family
    ],
)
def test_bad_meta_refused(trapped: tuple[Path, Path], change, match: str) -> None:  # type: ignore[no-untyped-def]
    folder, sentinel = trapped
    meta = json.loads((folder / META).read_text())
    change(meta)
    (folder / META).write_text(json.dumps(meta))
    _write_sums(folder)  # checksums correct: the meta itself is what is refused
    with pytest.raises(BundleError, match=match):
        _vouched(folder)
    assert not sentinel.exists()


def test_missing_sums_refused(trapped: tuple[Path, Path]) -> None:
    folder, sentinel = trapped
    (folder / SUMS).unlink()
    with pytest.raises(BundleError, match="without checksums"):
        load_bundle(folder, Trust(digest="0" * 64))
    assert not sentinel.exists()


def test_sums_must_cover_both_files(trapped: tuple[Path, Path]) -> None:
    folder, sentinel = trapped
    lines = (folder / SUMS).read_text().splitlines()
    (folder / SUMS).write_text("".join(f"{ln}\n" for ln in lines if ln.endswith(META)))
    with pytest.raises(BundleError, match=PICKLE):
        _vouched(folder)
    assert not sentinel.exists()


def test_missing_files_refused(saved: tuple[Path, ModelBundle], tmp_path: Path) -> None:
    folder, _ = saved
    with pytest.raises(BundleError):
        load_bundle(tmp_path / "nowhere")
    other = tmp_path / "copy"
    shutil.copytree(folder, other)
    (other / PICKLE).unlink()
    with pytest.raises(BundleError, match="missing"):
        _vouched(other)


def test_swapped_pickle_from_another_bundle_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    save_bundle(_bundle(), a)
    save_bundle(_bundle(families=("frequency",)), b)
    shutil.copy(b / PICKLE, a / PICKLE)
    with pytest.raises(BundleError, match="checksum"):
        _vouched(a)


# --------------------------------------------------------------------------- explain


def test_explain_one_entry_per_family(saved: tuple[Path, ModelBundle]) -> None:
    folder, _ = saved
    bundle = _vouched(folder)
    x = _vectors()
    out = bundle.explain(x[:1])
    assert list(out) == [*FAMILY_NAMES, "temporal"]
    assert all(isinstance(v, float) and -1.0 <= v <= 1.0 for v in out.values())


def test_explain_without_temporal_and_subset(tmp_path: Path) -> None:
    fams = ("quality", "texture")
    save_bundle(_bundle(families=fams, temporal=False), tmp_path / "b")
    bundle = _vouched(tmp_path / "b")
    assert list(bundle.explain(_vectors(fams, temporal=False)[:1])) == list(fams)


def test_explain_is_an_ablation(saved: tuple[Path, ModelBundle]) -> None:
    # A vector at the training mean: setting any family to the mean changes nothing.
    folder, _ = saved
    bundle = _vouched(folder)
    mean = bundle.pipeline.named_steps["scale"].mean_.astype(np.float32)
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in bundle.explain(mean).values())


def test_score_explained_is_score_and_explain(saved: tuple[Path, ModelBundle]) -> None:
    # The scanner takes both from one model call; each must equal its own call.
    folder, _ = saved
    bundle = _vouched(folder)
    for row in _vectors()[:4]:
        score, drops = bundle.score_explained(row)
        np.testing.assert_array_equal(score, bundle.score(row))
        assert drops == bundle.explain(row)


# --------------------------------------------------------------------------- shipped model


def test_default_bundle_loads() -> None:
    bundle = load_bundle()
    assert load_bundle(DEFAULT_BUNDLE).version == bundle.version
    used = [*bundle.families, *(["temporal"] if bundle.temporal else [])]
    assert compatible(bundle.meta["feature_version"], used)
    assert 0.0 < bundle.threshold < 1.0
    assert bundle.meta["training_data"]["description"]
    d = video_length(select(bundle.families), bundle.temporal)
    x = np.zeros((1, d), np.float32)
    assert 0.0 <= bundle.score(x)[0] <= 1.0
    assert set(bundle.explain(x)) == set(bundle.families) | {"temporal"}


def test_train_default_names_the_shipped_families() -> None:
    """scripts/train-default rebuilds the bundled model, so it must ask `dfscan train` for the
    bundle's own families: the command's default set has grown since the bundle was made."""
    script = (DEFAULT_BUNDLE.parents[1] / "scripts" / "train-default").read_text()
    named = script.split("--families ", 1)[1].split()[0]
    meta = json.loads((DEFAULT_BUNDLE / "meta.json").read_text())
    assert named.split(",") == meta["families"]
    assert ("--no-temporal" in script) == (not meta.get("temporal", True))


def test_clip_families_are_explained_after_the_frame_ones(tmp_path: Path) -> None:
    fams = ("boundary", "landmarks", "flicker")
    save_bundle(_bundle(families=fams), tmp_path / "b")
    bundle = _vouched(tmp_path / "b")
    assert [f.name for f in bundle.extract_config(load_settings(), 16).clips] == [
        "flicker",
        "landmarks",
    ]
    x = _vectors(fams)
    assert x.shape[1] == video_length(select(fams), True, select_clips(fams))
    assert list(bundle.explain(x[:1])) == ["boundary", "temporal", "flicker", "landmarks"]
