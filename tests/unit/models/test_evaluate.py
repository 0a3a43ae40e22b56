"""Evaluation: metrics on hand-computed cases, the background control region, and
``dfscan evaluate`` end to end on a tiny generated manifest with a tiny model bundle."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from common.faces import background_faces
from common.types import Box, Face, Frame
from models.evaluation.blocks import block, per_method
from models.evaluation.control import CONFOUND_AUC, control_verdict
from models.metrics import auc, eer, far_at_frr, rates_at, threshold_at_frr

# Four reals and four fakes; one fake (0.35) sits among the reals.
REAL = [0.1, 0.2, 0.3, 0.4]
FAKE = [0.35, 0.5, 0.6, 0.7]
S = np.array(REAL + FAKE)
Y = np.array([0] * 4 + [1] * 4)


def test_auc_eer_and_rates_by_hand() -> None:
    # Fake-over-real pairs: 0.35 beats 3 reals, the other three fakes beat all 4: 15 / 16.
    assert auc(S, Y) == pytest.approx(15 / 16)
    # At 0.45 one fake (0.35) is accepted as real, no real is flagged.
    r = rates_at(S, Y, 0.45)
    assert (r.far, r.frr, r.hter) == (0.25, 0.0, 0.125)
    # At 0.35 (score >= threshold is fake): no fake passes, the real 0.4 is flagged.
    r = rates_at(S, Y, 0.35)
    assert (r.far, r.frr) == (0.0, 0.25)
    # FAR and FRR are both 1/4 at threshold 0.4: EER 25%.
    e = eer(S, Y)
    assert e.far == pytest.approx(0.25) and e.threshold == pytest.approx(0.4)


def test_threshold_at_frr_by_hand() -> None:
    # 25% of 4 reals may be flagged: the threshold sits just above the second highest (0.3).
    t = threshold_at_frr(np.array(REAL), 0.25)
    assert 0.3 < t < 0.3 + 1e-9
    assert rates_at(S, Y, t).frr == 0.25
    # No real may be flagged: just above the highest real.
    t0 = threshold_at_frr(np.array(REAL), 0.0)
    assert 0.4 < t0 < 0.4 + 1e-9 and rates_at(S, Y, t0).frr == 0.0
    # 1% of 4 reals rounds down to none flagged; the fake 0.35 then passes: FAR 25%.
    assert far_at_frr(S, Y, 0.01).far == 0.25
    assert far_at_frr(S, Y, 0.25).far == 0.0


def test_block_and_per_method() -> None:
    b = block(S, Y, 0.45)
    for key in ("auc", "eer", "far", "frr", "hter", "threshold", "n_real", "n_fake"):
        assert key in b
    assert b["far_at_frr_1pct"] == 0.25 and b["far_at_frr_5pct"] == 0.25
    assert (b["n_real"], b["n_fake"]) == (4, 4)
    methods = ["vid"] * 4 + ["A", "B", "A", "B"]
    pm = per_method(S, Y, methods, 0.45)
    # Method A: fakes 0.35 and 0.6 against all four reals: one of two accepted.
    assert pm["A"]["far"] == 0.5 and pm["A"]["n_real"] == 4 and pm["A"]["n_fake"] == 2
    assert pm["A"]["auc"] == pytest.approx((3 + 4) / 8)
    assert pm["B"]["far"] == 0.0 and pm["B"]["auc"] == 1.0
    # A real-only source gets its FRR.
    assert pm["vid"]["frr"] == 0.0 and pm["vid"]["n_fake"] == 0
    # One class only: no AUC, but the rate of the class present.
    only_real = block(np.array(REAL), np.zeros(4, int), 0.35)
    assert np.isnan(only_real["auc"]) and only_real["frr"] == 0.25


def test_control_verdict_says_confounded_in_plain_words() -> None:
    assert "CONFOUNDED" in control_verdict(CONFOUND_AUC, 0.9, 0.95)
    assert "proves little" in control_verdict(0.9, 0.9, 0.95)
    assert "No shortcut" in control_verdict(0.5, 0.9, 0.95)
    assert "not run" in control_verdict(float("nan"), float("nan"), 0.9)


# --- Background control region -------------------------------------------------------------

RED = (0, 0, 255)


def _frame_with_face(w: int, h: int, box: Box, index: int = 0) -> Frame:
    img = np.full((h, w, 3), 90, np.uint8)
    img[box.y : box.y + box.h, box.x : box.x + box.w] = RED
    return Frame(index, 0.0, img)


def _overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


@pytest.mark.parametrize(
    ("w", "h", "box"),
    [
        (640, 480, Box(250, 150, 120, 140)),  # centred face: a corner above it
        (640, 480, Box(0, 0, 200, 220)),  # face in the top-left corner
        (299, 299, Box(100, 120, 110, 110)),  # DeepfakeTIMIT-like: little room, smaller patch
        (400, 300, Box(300, 150, 90, 140)),  # face at the right edge, low
    ],
)
def test_background_patch_never_touches_the_face(w: int, h: int, box: Box) -> None:
    frames = [_frame_with_face(w, h, box, i) for i in range(3)]
    faces = [
        Face(i, box, np.zeros((128, 128, 3), np.uint8), np.zeros((128, 128))) for i in range(3)
    ]
    bg = background_faces(frames, faces, 128)
    assert len(bg) == 3
    for f in bg:
        p = f.box
        assert p.x >= 0 and p.y >= 0 and p.x + p.w <= w and p.y + p.h <= h
        assert p.w == p.h >= 16
        assert not _overlaps(p, box), (p, box)
        # Not one face pixel in the crop, and the crop is the canonical size with a mask.
        red = np.all(f.crop == np.array(RED, np.uint8), axis=-1)
        assert not red.any()
        assert f.crop.shape == (128, 128, 3) and f.mask.shape == (128, 128)
        # A synthetic ellipse in the middle, of the face mask's relative size.
        assert f.mask[64, 64] == 1 and f.mask[0, 0] == 0
        assert 0.15 < f.mask.mean() < 0.45
    # One position for the whole clip: a steady region for the temporal family.
    assert len({f.box for f in bg}) == 1


def test_background_is_dropped_when_the_face_fills_the_frame() -> None:
    box = Box(5, 5, 290, 290)
    frames = [_frame_with_face(300, 300, box)]
    faces = [Face(0, box, np.zeros((128, 128, 3), np.uint8), np.zeros((128, 128)))]
    assert background_faces(frames, faces, 128) == []


def test_background_region_on_a_detected_face() -> None:
    from common.faces import make_detector, track_faces
    from models.samples import sample_frames

    frames = [Frame(i, i / 25, img) for i, img in enumerate(sample_frames(3, seed=1))]
    faces = track_faces(frames, make_detector("haar"), 128)
    assert faces
    bg = background_faces(frames, faces, 128)
    assert len(bg) == len(faces)
    for f, b in zip(faces, bg, strict=True):
        assert not _overlaps(b.box, f.box)


# --- End to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_eval(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from common.features import FAMILIES, FAMILY_NAMES, video_length
    from models.bundle import ModelBundle, save_bundle
    from models.classifier import make_pipeline
    from models.manifest import Item, write_manifest
    from models.samples import sample_frames, write_video

    tmp = tmp_path_factory.mktemp("evaluate")
    items = []
    for g in range(3):
        for fake in (False, True):
            name = f"{'fake' if fake else 'real'}{g}.mp4"
            write_video(tmp / "videos" / name, sample_frames(6, (320, 240), fake=fake, seed=g))
            method = ("swapA" if g % 2 else "swapB") if fake else "cam"
            items.append(
                Item(f"videos/{name}", "fake" if fake else "real", f"p{g}", "test", method)
            )
    (tmp / "videos" / "broken.mp4").write_bytes(b"not a video")
    items.append(Item("videos/broken.mp4", "real", "p9", "test", "cam"))
    items.append(Item("videos/real0.mp4", "real", "p0", "train", "cam"))  # other split
    manifest = tmp / "m.csv"
    write_manifest(items, manifest)

    rng = np.random.default_rng(0)
    d = video_length(FAMILIES, True)
    x, y = rng.normal(size=(40, d)), np.array([0, 1] * 20)
    pipe = make_pipeline(C=1.0, seed=0).fit(x, y)
    meta = {
        "name": "tiny",
        "families": list(FAMILY_NAMES),
        "temporal": True,
        "threshold": 0.5,
        "detector": "haar",
        "crop_size": 128,
        "frames_per_video": 4,
        "params": {"kernel": "rbf", "C": 1.0, "gamma": "scale"},
    }
    save_bundle(ModelBundle(pipe, meta), tmp / "model")
    return {"tmp": tmp, "manifest": manifest, "model": tmp / "model"}


def test_evaluate_end_to_end(tiny_eval: dict[str, Path]) -> None:
    from models.bundle import bundle_digest
    from scheduler.cli import main

    out = tiny_eval["tmp"] / "report"
    args = ["evaluate", "--manifest", str(tiny_eval["manifest"]), "--out", str(out)]
    args += ["--model", str(tiny_eval["model"]), "--split", "test", "--workers", "1"]
    args += ["--cache", str(tiny_eval["tmp"] / "cache")]
    # The operator vouches for the bundle by its digest, as for a scan (models/trusted.py).
    env = {"DFSCAN_MODEL_SHA256": bundle_digest(tiny_eval["model"])}
    res = CliRunner().invoke(main, args, env=env)
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "video: AUC" in res.output and "control: background AUC" in res.output
    for name in ("scores.csv", "metrics.json", "roc.png", "det.png", "report.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in ("roc.png", "det.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / name).stat().st_size > 5000

    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert list(rows[0]) == ["target", "label", "method", "group", "score", "predicted", "error"]
    assert len(rows) == 7  # the split filter dropped the train row
    broken = [r for r in rows if r["target"].endswith("broken.mp4")]
    assert broken[0]["error"] and not broken[0]["score"]
    scored = [r for r in rows if r["score"]]
    assert len(scored) == 6
    assert all(r["predicted"] == ("fake" if float(r["score"]) >= 0.5 else "real") for r in scored)

    m = json.loads((out / "metrics.json").read_text())
    keys = {"auc", "eer", "far", "frr", "hter", "threshold", "n_real", "n_fake"}
    keys |= {"far_at_frr_1pct", "far_at_frr_5pct"}
    assert keys <= set(m["video"]) and keys <= set(m["frame"])
    assert (m["video"]["n_real"], m["video"]["n_fake"]) == (3, 3)
    assert m["frame"]["n_real"] + m["frame"]["n_fake"] > 6  # several frames per video
    assert set(m["per_method"]) == {"swapA", "swapB", "cam"}
    assert m["per_method"]["swapA"]["n_real"] == 3 and m["per_method"]["swapA"]["n_fake"] == 1
    c = m["control"]
    assert {"auc", "face_cv_auc", "model_auc", "verdict", "confounded"} <= set(c)
    assert c["n_videos"] == 6 and c["folds"] == 3
    assert sum(m["errors"].values()) == 1
    report = (out / "report.md").read_text()
    for text in ("Shortcut control", "FAR@FRR1%", "Per method", "Errors", "What drove"):
        assert text in report


def test_roc_counts_at_every_distinct_score_and_one_eer_serves_both_reports() -> None:
    from models.metrics import roc
    from scheduler.report import equal_error_rate

    rng = np.random.default_rng(0)
    s = np.round(rng.random(60), 1)  # many ties between and within the classes
    y = rng.integers(0, 2, 60)
    th, far, frr = roc(s, y)
    assert np.isinf(th[0]) and set(th[1:].tolist()) == set(s.tolist())
    for t, a, r in zip(th, far, frr, strict=True):
        assert a == np.mean(s[y == 1] < t) and r == np.mean(s[y == 0] >= t)
    gap = np.abs(far - frr)
    e = eer(s, y)
    assert e.far == e.frr == (far[gap.argmin()] + frr[gap.argmin()]) / 2
    assert equal_error_rate(s, y == 1) == e.far


def test_evaluate_with_nothing_scored_still_reports(tiny_eval: dict[str, Path]) -> None:
    """Every listed video unreadable: the report says so (0 scored, their errors), no crash."""
    from models.bundle import bundle_digest
    from scheduler.cli import main

    tmp = tiny_eval["tmp"]
    (tmp / "notes.txt").write_text("not a video")
    manifest = tmp / "unreadable.csv"
    manifest.write_text(f"path,label\n{tmp / 'notes.txt'},real\n{tmp / 'notes.txt'},fake\n")
    out = tmp / "nothing"
    args = ["evaluate", "--manifest", str(manifest), "--out", str(out), "--workers", "1"]
    args += ["--model", str(tiny_eval["model"]), "--cache", str(tmp / "cache")]
    env = {"DFSCAN_MODEL_SHA256": bundle_digest(tiny_eval["model"])}
    res = CliRunner().invoke(main, args, env=env)
    assert res.exit_code == 0, res.output + repr(res.exception)
    m = json.loads((out / "metrics.json").read_text())
    assert m["meta"]["n_scored"] == 0 and sum(m["errors"].values()) == 2
    assert "- Videos: 2 listed, 0 scored, 2 could not be scored" in (out / "report.md").read_text()
