"""Training: self-blended pseudo-fakes checked in pixels, degradations, recipes, the
threshold rule per source of reals, deterministic training, and `dfscan train` end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from common.types import Box, Face
from models.augment import Degrader, degrade, draw_degradation
from models.featurize import Featurized, Recipe, _recipes
from models.manifest import Item, write_manifest
from models.selection import choose_threshold, select_and_fit, train
from models.selfblend import BlendParams, draw_params, self_blend
from models.training import real_fake_weights

SIZE = 128


def _face(seed: int = 0) -> Face:
    rng = np.random.default_rng(seed)
    crop = cv2.GaussianBlur(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8), (0, 0), 1.5)
    mask = np.zeros((SIZE, SIZE), np.float32)
    cv2.ellipse(mask, (64, 66), (30, 38), 0, 0, 360, 1.0, -1)
    return Face(0, Box(30, 25, 68, 80), crop, mask)


def _params(**kw: object) -> BlendParams:
    base = BlendParams(
        hue_shift=0.0,
        sat_gain=1.0,
        val_gain=1.3,
        rgb_gain=(1.0, 1.0, 1.0),
        down=1.0,
        blur_sigma=0.0,
        sharpen=0.0,
        shift=(0.0, 0.0),
        scale=1.0,
        mask_grow=0,
        feather=1.5,
        mask_kind="hull",
        alpha=1.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_self_blend_changes_the_face_and_nothing_beyond_its_feathered_edge() -> None:
    face = _face()
    out, m = self_blend(face, _params(), np.random.default_rng(0))
    diff = np.abs(out.crop.astype(int) - face.crop.astype(int)).max(axis=2)
    inside = cv2.erode((face.mask > 0.5).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    # 3 sigma of feathering plus a pixel: beyond it the blend weight is ~0.
    reach = cv2.dilate((face.mask > 0.5).astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
    assert np.all(diff[~reach] <= 1), "pixels outside the feathered mask edge changed"
    assert np.mean(diff[inside] > 5) > 0.95, "the inner face was not replaced"
    # The blend weight is ~1 deep inside and ~0 far outside, and crosses 0.5 at the contour.
    assert m[inside].min() > 0.95 and m[~reach].max() < 0.02
    ys, xs = np.nonzero(np.abs(m - 0.5) < 0.2)
    contour = np.hypot((xs - 64) / 30.0, (ys - 66) / 38.0)
    assert np.all(np.abs(contour - 1.0) < 0.15), "the blend edge is not on the mask contour"


def test_self_blend_mask_grow_moves_the_boundary_outwards() -> None:
    face = _face()
    _, m0 = self_blend(face, _params(), np.random.default_rng(0))
    _, m1 = self_blend(face, _params(mask_grow=3), np.random.default_rng(0))
    assert (m1 > 0.5).sum() > (m0 > 0.5).sum()


def test_blend_recipe_is_drawn_from_the_seed() -> None:
    a, b = draw_params(np.random.default_rng(5)), draw_params(np.random.default_rng(5))
    assert a == b
    assert draw_params(np.random.default_rng(6)) != a
    assert draw_degradation(np.random.default_rng(5)) == draw_degradation(np.random.default_rng(5))


def test_degrader_keeps_the_crop_shape_and_removes_detail() -> None:
    face = _face()
    d = replace(
        draw_degradation(np.random.default_rng(0)),
        scale=0.5,
        blur_sigma=1.0,
        jpeg_quality=50,
        gamma=1.0,
        gains=(1.0, 1.0, 1.0),
    )
    small = degrade(face.crop, d)
    assert small.shape[:2] == (64, 64)
    out = Degrader(0)(face)
    assert out.crop.shape == face.crop.shape and out.crop.dtype == np.uint8

    def detail(img: np.ndarray) -> float:
        return float(
            np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)).mean()
        )

    up = cv2.resize(small, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    assert detail(up) < 0.7 * detail(face.crop)


def test_recipes_make_pseudo_fakes_and_degraded_copies_of_reals_only() -> None:
    real, fake = Item("a.mp4", "real", "g"), Item("b.mp4", "fake", "g")
    assert _recipes(fake, 1, 2) == [Recipe()]
    rs = _recipes(real, 1, 2)
    assert [r.method for r in rs] == [
        None,
        "self-blend",
        "degraded",
        "self-blend+degraded",
        "degraded",
        "self-blend+degraded",
    ]
    # Each degraded pseudo-fake shares its degradation with the degraded real beside it.
    assert rs[2].degrade_seed == rs[3].degrade_seed != rs[4].degrade_seed
    assert rs == _recipes(real, 1, 2)  # deterministic


def test_threshold_holds_the_frr_for_every_source_of_reals() -> None:
    # Source "cam" reals score low, "film" reals higher; fakes are irrelevant to an FRR rule.
    cam = np.linspace(0.0, 0.3, 100)
    film = np.linspace(0.2, 0.6, 20)
    scores = np.r_[cam, film, [0.9, 0.95]]
    y = np.r_[np.zeros(120, int), [1, 1]]
    dom = np.array(["cam"] * 100 + ["film"] * 20 + ["fake", "fake"])
    pooled = choose_threshold(scores, y, "frr:0.05")
    per_source = choose_threshold(scores, y, "frr:0.05", dom)
    assert per_source > film[-2] and per_source <= film[-1] + 1e-9  # 1 of 20 film reals may pass
    assert pooled < per_source
    assert np.mean(film >= per_source) <= 0.05 and np.mean(cam >= per_source) <= 0.05
    # Degraded copies are a training aid: they never set the threshold.
    deg = np.r_[scores, [0.99] * 10]
    ydeg = np.r_[y, np.zeros(10, int)]
    ddeg = np.r_[dom, ["degraded"] * 10]
    assert choose_threshold(deg, ydeg, "frr:0.05", ddeg) == per_source
    with pytest.raises(ValueError):
        choose_threshold(scores, y, "median")


def test_training_is_deterministic_with_a_seed() -> None:
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, (60, 6)), rng.normal(0.8, 1, (60, 6))]
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    groups = np.array([f"p{i % 12}" for i in range(120)])
    grid = [{"svm__kernel": ["rbf"], "svm__C": [0.3, 3.0], "svm__gamma": ["scale"]}]
    a = train(x, y, groups, seed=3, grid=grid)
    b = train(x, y, groups, seed=3, grid=grid)
    assert a.params == b.params and a.threshold == b.threshold
    np.testing.assert_array_equal(a.oof_scores, b.oof_scores)
    np.testing.assert_array_equal(a.pipeline.predict_proba(x), b.pipeline.predict_proba(x))
    assert a.cv_auc > 0.6  # the classes are separable on average


def _real_clips_manifest(folder: Path, n: int) -> None:
    """``m.csv`` in ``folder``: n 4-frame real sample clips, one person each, the last "val"."""
    from models.samples import sample_frames, write_video

    items = []
    for g in range(n):
        path = folder / f"real{g}.mp4"
        write_video(path, sample_frames(4, (320, 240), seed=g))
        items.append(Item(str(path), "real", f"p{g}", "val" if g == n - 1 else "train", "cam"))
    write_manifest(items, folder / "m.csv")


def test_dfscan_train_end_to_end(tmp_path: Path) -> None:
    """Pseudo-only training from real sample videos: a loadable checksummed bundle and its card."""
    from models.bundle import BundleError, load_bundle
    from models.trusted import Trust
    from scheduler.cli import main

    _real_clips_manifest(tmp_path, 4)
    out = tmp_path / "model"
    res = CliRunner().invoke(
        main,
        [
            "train",
            "--manifest",
            str(tmp_path / "m.csv"),
            "--out",
            str(out),
            "--pseudo-only",
            "--augment",
            "1",
            "--frames",
            "4",
            "--cache",
            str(tmp_path / "cache"),
            "--threshold",
            "frr:0.1",
            "--seed",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    # The digest it prints is what an operator sets to load it; unvouched, it is refused.
    digest = res.output.split("DFSCAN_MODEL_SHA256=")[1].split()[0]
    with pytest.raises(BundleError, match=digest):
        load_bundle(out)
    bundle = load_bundle(out, Trust(digest=digest))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["training_data"]["counts"] == {
        "real:cam": 3,
        "fake:self-blend": 3,
        "real:degraded": 3,
        "fake:self-blend+degraded": 3,
    }
    assert 0.0 < bundle.threshold <= 1.0 and meta["frames_per_video"] == 4
    assert "Model card" in (out / "card.md").read_text()
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 16  # 4 clips x 4 recipes, cached


def test_dfscan_train_with_box_jitter(tmp_path: Path) -> None:
    """--box-jitter reaches extraction of the training clips (rows cached under their own
    keys, features differ from the unjittered rows) but not of the dev clips, which set the
    threshold as a scan crops them; the card records it."""
    from scheduler.cli import main

    _real_clips_manifest(tmp_path, 6)
    cache = tmp_path / "cache"

    def run(out: str, *extra: str) -> dict:  # type: ignore[type-arg]
        args = ["train", "--manifest", str(tmp_path / "m.csv"), "--out", str(tmp_path / out)]
        args += ["--pseudo-only", "--frames", "4", "--cache", str(cache), "--seed", "0"]
        res = CliRunner().invoke(main, [*args, "--threshold", "frr:0.2", *extra])
        assert res.exit_code == 0, res.output
        return json.loads((tmp_path / out / "meta.json").read_text())

    plain = run("plain")
    before = {p.name: np.load(p) for p in cache.glob("*.npy")}
    jittered = run("jittered", "--box-jitter", "0.05", "0.1")
    after = {p.name: np.load(p) for p in cache.glob("*.npy")}
    assert "box_jitter" not in plain["training_data"]
    assert jittered["training_data"]["box_jitter"] == [0.05, 0.1]
    assert (
        "box jitter (shift, log size): (0.05, 0.1)" in (tmp_path / "jittered/card.md").read_text()
    )
    new = [after[k] for k in after.keys() - before.keys()]
    assert len(before) == 12 and len(new) == 10  # 5 train clips x (as is, self-blend)
    olds = list(before.values())
    assert not any(n.shape == o.shape and np.allclose(n, o) for n in new for o in olds)


def test_real_fakes_can_weigh_as_much_as_all_self_blends() -> None:
    rows = [Featurized(Item(f"r{i}", "real", method="a"), None) for i in range(6)]
    rows += [Featurized(Item(f"b{i}", "fake", method="a:self-blend"), None) for i in range(8)]
    rows += [Featurized(Item(f"f{i}", "fake", method="ffpp-c23:Deepfakes"), None) for i in range(2)]
    assert real_fake_weights(rows, None) is None
    w = real_fake_weights(rows, 1.0)
    assert w is not None and w.mean() == pytest.approx(1.0)  # the total weight is kept
    assert w[-2:].sum() == pytest.approx(w[6:14].sum())  # 2 real fakes = 8 self-blends
    assert np.all(w[:6] == w[6])  # reals and self-blends keep one weight each


def test_sample_weights_reach_the_svm() -> None:
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, (40, 3)), rng.normal(1.5, 1, (40, 3))]
    y = np.r_[np.zeros(40, int), np.ones(40, int)]
    groups = np.arange(80) % 10
    grid = [{"svm__kernel": ["linear"], "svm__C": [1.0]}]
    plain, *_ = select_and_fit(x, y, groups, grid=grid)
    w = np.where(y == 1, 5.0, 1.0)
    weighted, *_ = select_and_fit(x, y, groups, grid=grid, sample_weight=w)
    # Fakes weighing 5x push the boundary towards the reals: more rows called fake.
    assert (weighted.predict(x) == 1).sum() > (plain.predict(x) == 1).sum()


def test_dfscan_train_no_spread_makes_a_mean_only_model_that_scans(tmp_path: Path) -> None:
    """--no-spread: the bundle records it, its SVM sees the frame families' means alone, and a
    scan builds vectors of that length (the scanner reads the layout from the bundle)."""
    from common.features import select, select_clips, video_length
    from common.settings import Settings
    from models.bundle import load_bundle
    from models.scanner import Scanner
    from models.trusted import Trust
    from scheduler.cli import main

    _real_clips_manifest(tmp_path, 4)
    out, fams = tmp_path / "model", ("quality", "boundary", "landmarks")
    args = ["train", "--manifest", str(tmp_path / "m.csv"), "--out", str(out), "--pseudo-only"]
    args += ["--augment", "1"]
    args += ["--frames", "4", "--cache", str(tmp_path / "cache"), "--seed", "0"]
    args += ["--threshold", "frr:0.2", "--families", ",".join(fams), "--no-spread"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    digest = res.output.split("DFSCAN_MODEL_SHA256=")[1].split()[0]
    bundle = load_bundle(out, Trust(digest=digest))
    assert bundle.meta["spread"] is False and not bundle.spread
    lean = video_length(select(fams), True, select_clips(fams), spread=False)
    assert lean < video_length(select(fams), True, select_clips(fams))
    assert bundle.pipeline.named_steps["scale"].n_features_in_ == lean
    assert "by their mean over frames only" in (out / "card.md").read_text()
    settings = Settings(model_path=out, model_sha256=digest)  # type: ignore[call-arg]
    result = Scanner(settings, local_files=True).scan(str(tmp_path / "real0.mp4"))
    assert result.error is None and result.score is not None
    assert set(result.families) == {"quality", "boundary", "temporal", "landmarks"}


def test_dfscan_train_measure_every_makes_a_model_that_scans_as_trained(tmp_path: Path) -> None:
    """--measure-every 2: the bundle records it, its vectors are made from every second
    cached frame vector, and a scan measures every second face: the scanner's score is the
    score of the training path's vector for the same clip."""
    from common.settings import Settings
    from models.bundle import load_bundle
    from models.featurize import featurize, matrix_for, video_matrix
    from models.scanner import Scanner
    from models.trusted import Trust
    from scheduler.cli import main

    _real_clips_manifest(tmp_path, 4)
    out, cache = tmp_path / "model", tmp_path / "cache"
    args = ["train", "--manifest", str(tmp_path / "m.csv"), "--out", str(out), "--pseudo-only"]
    args += ["--frames", "4", "--cache", str(cache), "--seed", "0", "--threshold", "frr:0.2"]
    args += ["--augment", "1", "--families", "quality,boundary", "--measure-every", "2"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    digest = res.output.split("DFSCAN_MODEL_SHA256=")[1].split()[0]
    bundle = load_bundle(out, Trust(digest=digest))
    assert bundle.meta["measure_every"] == 2 and bundle.measure_every == 2
    assert "frame families on 1 face in 2" in (out / "card.md").read_text()
    settings = Settings(model_path=out, model_sha256=digest)  # type: ignore[call-arg]
    clip = str(tmp_path / "real0.mp4")
    cfg = bundle.extract_config(settings, 4)
    assert cfg.measure_every == 2
    (row,) = featurize([Item(clip, "real")], settings, cfg, cache=cache)
    assert row.matrix is not None and len(row.matrix) == 4  # the cache keeps every face
    x, _, _ = matrix_for([row], bundle)
    result = Scanner(settings, local_files=True).scan(clip)
    assert result.error is None and result.faces_found == 4
    assert result.score == pytest.approx(float(bundle.score(x)[0]), abs=1e-12)
    whole, _, _ = video_matrix([row], bundle.families, bundle.temporal)
    assert not np.array_equal(whole, x)  # every face would have made another vector
