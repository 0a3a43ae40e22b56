"""The nuisance control: made-up sets whose classes differ in frame or face size raise the
alarm and the matched AUC of a model that reads size falls to chance; a balanced set raises
none; and ``dfscan evaluate`` writes the same figures into metrics.json and report.md."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from _media import face_frames, write_video
from click.testing import CliRunner

from common.nuisance import Nuisance
from models.evaluation.nuisance import ALARM_AUC, nuisance_control, nuisance_table

N = 240  # videos per made-up set: 120 real, 120 fake, in groups of 4
RNG_SEED = 7


def _record(rng: np.random.Generator, height: int = 480, face: float = 100.0) -> Nuisance:
    """A clip like any other: everything but ``height`` and ``face`` drawn alike per class."""
    return Nuisance(
        width=height * 4 // 3,
        height=height,
        fps=float(rng.choice([25.0, 30.0])),
        frames_total=int(rng.integers(100, 400)),
        bytes=int(rng.integers(500_000, 3_000_000)),
        frames_decoded=16,
        faces=int(rng.integers(14, 17)),
        face_px=face * rng.uniform(0.97, 1.03),
        iod_px=0.4 * face * rng.uniform(0.97, 1.03),
        face_x=rng.uniform(0.4, 0.6),
        face_y=rng.uniform(0.3, 0.5),
    )


def _labels_groups() -> tuple[np.ndarray, list[str]]:
    y = np.array([0, 1] * (N // 2))
    return y, [f"person{i // 4}" for i in range(N)]


def _size_confounded(kind: str) -> tuple[dict, np.ndarray, np.ndarray, list[str]]:
    """Fakes mostly large, reals mostly small (80/20); within a size, the classes are alike.

    The model reads the size (plus a little noise) and nothing else.
    """
    rng = np.random.default_rng(RNG_SEED)
    y, groups = _labels_groups()
    big = np.where(y == 1, rng.random(N) < 0.8, rng.random(N) < 0.2)
    if kind == "frame":
        # The face keeps its pixel size: only the frame (and so the face's share of it) grows.
        sizes = np.where(big, 720, 360)
        recs = [_record(rng, height=int(h)) for h in sizes]
    else:
        sizes = np.where(big, 140.0, 70.0)
        recs = [_record(rng, face=float(f)) for f in sizes]
    scores = sizes + rng.normal(0, 1.0, N)
    return nuisance_table(recs), y, scores, groups


@pytest.mark.parametrize(("kind", "named"), [("frame", "height"), ("face", "face_px")])
def test_size_confound_raises_the_alarm_and_matching_leaves_a_size_reader_at_chance(
    kind: str, named: str
) -> None:
    table, y, scores, groups = _size_confounded(kind)
    c = nuisance_control(table, y, groups, scores, methods=["m"] * N)
    assert c["alarm"] and named in c["separating"]
    v = c["variables"][named]
    assert v["auc"] == pytest.approx(0.8, abs=0.08) and v["higher_in"] == "fake"
    assert c["classifier"]["auc"] >= ALARM_AUC
    # Variables drawn alike for both classes stay near chance.
    for other in ("bitrate", "duration_s", "fps", "face_x"):
        assert c["variables"][other]["auc"] < 0.62, other
    m = c["matched"]
    assert m["model_auc"] > 0.75
    assert m["auc"] == pytest.approx(0.5, abs=0.06)
    assert m["ci95"][0] < 0.5 < m["ci95"][1]
    assert m["margin_kept"] < 0.25
    words = "frame height" if kind == "frame" else "Face size (box side, pixels)"
    assert c["verdict"].startswith("NUISANCE ALARM.") and words.lower() in c["verdict"].lower()
    assert "larger in fakes" in c["verdict"] and "of its margin over chance stands" in c["verdict"]


def test_a_size_confound_without_overlap_says_the_model_cannot_be_checked() -> None:
    rng = np.random.default_rng(RNG_SEED)
    y, groups = _labels_groups()
    recs = [_record(rng, height=720 if label else 360) for label in y]
    c = nuisance_control(nuisance_table(recs), y, groups, y + rng.normal(0, 0.1, N))
    assert c["alarm"] and c["variables"]["height"]["auc"] == 1.0
    assert c["matched"]["n_pairs"] == 0 and np.isnan(c["matched"]["auc"])
    assert "No real and fake video share a face size and frame resolution" in c["verdict"]


def test_balanced_set_raises_no_alarm_and_keeps_the_models_margin() -> None:
    rng = np.random.default_rng(RNG_SEED)
    y, groups = _labels_groups()
    recs = [_record(rng, height=int(rng.choice([360, 720])), face=rng.uniform(60, 150)) for _ in y]
    scores = y + rng.normal(0, 0.8, N)  # a model that sees the forgery, not the size
    c = nuisance_control(nuisance_table(recs), y, groups, scores)
    assert not c["alarm"] and c["separating"] == []
    assert max(v["auc"] for v in c["variables"].values()) < ALARM_AUC
    assert c["classifier"]["auc"] < ALARM_AUC
    m = c["matched"]
    assert m["n_pairs"] > 0 and m["auc"] == pytest.approx(m["model_auc"], abs=0.06)
    assert m["margin_kept"] > 0.8
    assert c["verdict"].startswith("No nuisance separates the classes")


def test_a_variable_smaller_in_fakes_separates_just_as_well() -> None:
    rng = np.random.default_rng(RNG_SEED)
    y, groups = _labels_groups()
    recs = [_record(rng, face=70.0 if label else 140.0) for label in y]
    c = nuisance_control(nuisance_table(recs), y, groups, rng.random(N))
    v = c["variables"]["face_px"]
    assert v["auc"] == 1.0 and v["higher_in"] == "real"
    assert "smaller in fakes" in c["verdict"]


def test_per_method_blocks_name_the_method_or_source_that_carries_the_confound() -> None:
    rng = np.random.default_rng(RNG_SEED)
    y, groups = _labels_groups()
    i = np.arange(N)
    fakes = np.where(i % 4 == 1, "swapA", "swapB")
    methods = np.where(y == 1, fakes, np.where(i % 4 == 0, "camera", "studio"))
    # Only swapA's fakes come in large frames, and only the studio's reals are long.
    recs = [
        replace(
            _record(rng, height=720 if m == "swapA" else 480),
            frames_total=4000 if m == "studio" else 200,
        )
        for m in methods
    ]
    c = nuisance_control(nuisance_table(recs), y, groups, rng.random(N), methods=list(methods))
    per = c["per_method"]
    assert set(per) == {"swapA", "swapB", "camera", "studio"}
    assert per["swapA"]["variables"]["height"]["auc"] == 1.0
    assert per["swapB"]["variables"]["height"]["auc"] == 0.5
    assert (per["swapA"]["side"], per["swapA"]["n_fake"], per["swapA"]["n_real"]) == (
        "fake",
        N // 4,
        N // 2,
    )
    assert per["studio"]["variables"]["duration_s"]["auc"] == 1.0
    assert per["camera"]["variables"]["duration_s"]["auc"] < 0.62
    assert (per["studio"]["side"], per["studio"]["n_real"]) == ("real", N // 4)


# --- dfscan evaluate end to end ---------------------------------------------------------------


def _padded(frames: list[np.ndarray], pad: tuple[int, int]) -> list[np.ndarray]:
    """The same pictures in a larger frame (edges replicated): the face keeps its pixels."""
    dx, dy = pad
    return [cv2.copyMakeBorder(f, dy, dy, dx, dx, cv2.BORDER_REPLICATE) for f in frames]


@pytest.fixture(scope="module")
def frame_size_eval(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reals 640x480, fakes the same kind of clip padded to 800x600; ``dfscan evaluate``."""
    from scheduler.cli import main

    tmp = tmp_path_factory.mktemp("nuisance_eval")
    rows = []
    for g in range(4):
        for fake in (False, True):
            frames = face_frames(8, fake=fake)
            path = tmp / "videos" / f"{'fake' if fake else 'real'}{g}.mp4"
            write_video(path, _padded(frames, (80, 60)) if fake else frames)
            method = "swapA" if g % 2 else "swapB"
            rows.append(
                [str(path), "fake" if fake else "real", f"p{g}", "", method if fake else "cam"]
            )
    manifest = tmp / "m.csv"
    with manifest.open("w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label", "group", "split", "method"], *rows])
    out = tmp / "report"
    args = ["evaluate", "--manifest", str(manifest), "--out", str(out), "--workers", "1"]
    args += ["--cache", str(tmp / "cache"), "--no-control"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "nuisance: NUISANCE ALARM." in res.output
    return out


def test_evaluate_names_the_frame_size_and_writes_the_measures(frame_size_eval: Path) -> None:
    m = json.loads((frame_size_eval / "metrics.json").read_text())["nuisance"]
    assert m["alarm"] and {"width", "height"} <= set(m["separating"])
    assert m["variables"]["width"]["median_real"] == 640
    assert m["variables"]["width"]["median_fake"] == 800
    report = (frame_size_eval / "report.md").read_text()
    assert "## Nuisance control" in report and m["verdict"] in report
    assert "frame width" in m["verdict"].lower() and "frame height" in m["verdict"]
    rows = list(csv.DictReader((frame_size_eval / "nuisance.csv").open()))
    assert len(rows) == 8
    assert {(r["label"], r["width"], r["height"]) for r in rows} == {
        ("real", "640", "480"),
        ("fake", "800", "600"),
    }
    # The face kept its pixels: its size in pixels does not tell the classes apart.
    px = {lab: [float(r["face_px"]) for r in rows if r["label"] == lab] for lab in ("real", "fake")}
    assert abs(np.median(px["real"]) - np.median(px["fake"])) < 0.1 * np.median(px["real"])


def _rows(text: str, prefix: str) -> list[list[str]]:
    """The cells (bold marks dropped) of each table row whose first cell starts with prefix."""
    return [
        [c.strip().strip("*") for c in ln.strip().strip("|").split("|")]
        for ln in text.splitlines()
        if ln.startswith(f"| {prefix}")
    ]


def test_report_numbers_equal_the_json_fields(frame_size_eval: Path) -> None:
    from common.nuisance import UNITS, WORDS
    from models.evaluation.nuisance_text import value
    from models.evaluation.report import fmt

    m = json.loads((frame_size_eval / "metrics.json").read_text())["nuisance"]
    report = (frame_size_eval / "report.md").read_text()
    section = report.split("## Nuisance control")[1].split("\n## ")[0]
    assert m["verdict"] in section
    for name, v in m["variables"].items():
        # First row of that name: the overall table; second: the per-method table.
        overall, per = _rows(section, f"{WORDS[name]} |")
        assert overall[1:] == [
            value(v["median_real"], UNITS[name]),
            value(v["median_fake"], UNITS[name]),
            fmt(v["auc"]),
            v["higher_in"] or "–",
        ], name
        assert per[1:] == [fmt(b["variables"][name]["auc"]) for b in m["per_method"].values()]
    (together,) = _rows(section, "all together")
    assert together[3] == fmt(m["classifier"]["auc"])
    mt = m["matched"]
    (matched,) = _rows(section, f"{mt['n_pairs']} |")
    assert matched[2:5] == [
        f"{mt['n_real_matched']} / {mt['n_fake_matched']}",
        fmt(mt["model_auc"]),
        fmt(mt["auc"]),
    ]
    (per_all,) = _rows(section, "model AUC, all pairs")
    assert per_all[1:] == [fmt(b["matched"]["model_auc"]) for b in m["per_method"].values()]


def test_a_fold_that_trains_on_one_class_leaves_its_videos_unscored() -> None:
    from models.evaluation.nuisance import classifier_auc

    # All reals are one person: the fold that tests them trains on fakes only.
    y = np.array([0] * 6 + [1] * 6)
    groups = np.array(["a"] * 6 + ["b"] * 3 + ["c"] * 3)
    c = classifier_auc({"height": np.r_[np.full(6, 360.0), np.full(6, 720.0)]}, y, groups)
    assert c["folds"] == 3 and c["n_scored"] == 6
    assert np.isnan(c["auc"])  # only fakes were scored: no AUC, and no crash
