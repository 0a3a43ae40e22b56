"""research.artifacts' pairing and statistics, on a made-up manifest and made-up numbers
(the research data it reads is never needed here)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from common.features import CLIP_NAMES, FAMILY_NAMES
from research import artifacts, artifacts_doc
from research.artifacts import Measured, Pair


def _manifest(dev: Path, rows: list[dict[str, str]]) -> None:
    dev.mkdir(parents=True, exist_ok=True)
    with (dev / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label", "dataset", "method", "group"])
        w.writeheader()
        w.writerows(rows)


def test_fakes_pair_with_the_original_of_their_identity(tmp_path: Path) -> None:
    ff = "FaceForensics++ (c23); label from folder"
    _manifest(
        tmp_path,
        [
            {
                "path": "o/1.mp4",
                "label": "real",
                "dataset": ff,
                "method": "orig",
                "group": "ffpp:1",
            },
            {
                "path": "o/2.mp4",
                "label": "real",
                "dataset": ff,
                "method": "orig",
                "group": "ffpp:2",
            },
            {
                "path": "d/1_2.mp4",
                "label": "fake",
                "dataset": ff,
                "method": "DF",
                "group": "ffpp:1",
            },
            {
                "path": "s/1_2.mp4",
                "label": "fake",
                "dataset": ff,
                "method": "FS",
                "group": "ffpp:1",
            },
            # a fake without its original, and another dataset's pair: both left out
            {
                "path": "d/3_4.mp4",
                "label": "fake",
                "dataset": ff,
                "method": "DF",
                "group": "ffpp:3",
            },
            {
                "path": "c/x.mp4",
                "label": "fake",
                "dataset": "Celeb-DF v2",
                "method": "c",
                "group": "cdf:1",
            },
            {
                "path": "c/y.mp4",
                "label": "real",
                "dataset": "Celeb-DF v2",
                "method": "c",
                "group": "cdf:1",
            },
        ],
    )
    pairs = artifacts.ffpp_pairs(tmp_path)
    assert [(p.fake.name, p.original.name, p.method) for p in pairs] == [
        ("1_2.mp4", "1.mp4", "DF"),
        ("1_2.mp4", "1.mp4", "FS"),
    ]
    assert {p.original for p in pairs} == {tmp_path / "o/1.mp4"}


def test_paired_statistics() -> None:
    d = np.array([1.0, 2.0, 3.0, 2.0, 1.0, 3.0, 2.0])
    s = artifacts.paired(d)
    assert s["n"] == 7 and s["mean"] == pytest.approx(2.0)
    assert s["d_z"] == pytest.approx(2.0 / d.std(ddof=1))
    assert s["share_higher"] == 1.0 and s["p"] < 0.05  # every difference positive
    flat = artifacts.paired(np.zeros(7))
    assert np.isnan(flat["d_z"]) and np.isnan(flat["p"])  # no spread: no effect size


def test_fakes_of_one_original_count_once() -> None:
    pairs = [
        Pair(Path("a1"), Path("a"), "DF", "g:a"),
        Pair(Path("a2"), Path("a"), "FS", "g:a"),
        Pair(Path("b1"), Path("b"), "DF", "g:b"),
    ]
    per = artifacts.by_identity(pairs, [np.array([1.0]), np.array([3.0]), np.array([10.0])])
    np.testing.assert_allclose(per, [[2.0], [10.0]])


def _measured(level: float, push: float) -> Measured:
    return Measured(
        score=level,
        values={"boundary": np.array([level, 1.0]), "flicker": np.array([0.0])},
        columns={"boundary": ("mean residual", "spread residual"), "flicker": ("jump",)},
        pushes={"boundary": push},  # the model uses boundary, not flicker
        measures={"boundary": {"boundary residual": level}},
    )


def test_measure_effects_ratio_and_methods() -> None:
    pairs = [Pair(Path(f"f{i}"), Path(f"o{i}"), "DF" if i % 2 else "FS", f"g{i}") for i in range(8)]
    seen = {}
    for i, p in enumerate(pairs):
        seen[p.original] = _measured(1.0 + 0.1 * i, 0.0)
        seen[p.fake] = _measured(2.0 * (1.0 + 0.1 * i) * (1.05 if i % 2 else 0.95), 0.1)
    (row,) = artifacts.measure_effects(pairs, seen)
    assert row["family"] == "boundary" and row["measure"] == "boundary residual"
    assert row["ratio"] == pytest.approx(2.0, rel=0.01)
    assert row["share_higher"] == 1.0 and row["d_z"] > 5
    assert row["methods"]["DF"]["ratio"] == pytest.approx(2.1)
    assert row["methods"]["FS"]["ratio"] == pytest.approx(1.9)
    assert row["methods"]["DF"]["n"] == 4


def test_a_measure_some_videos_lack_counts_the_pairs_that_have_it() -> None:
    """A clip family's measure is undefined on a clip without landmarks: its pair is left
    out of that measure alone, wherever the video comes in the list."""
    pairs = [Pair(Path(f"f{i}"), Path(f"o{i}"), "DF" if i % 2 else "FS", f"g{i}") for i in range(8)]
    seen = {}
    for i, p in enumerate(pairs):
        seen[p.original] = _measured(1.0 + 0.1 * i, 0.0)
        seen[p.fake] = _measured(2.0 * (1.0 + 0.1 * i), 0.1)
        if i != 0:  # the first pair's videos lack it: it is met only later
            for video, wander in ((p.original, 1.0), (p.fake, 3.0)):
                seen[video].measures["landmarks"] = {"jaw wander": wander + 0.01 * i}
    del seen[pairs[5].fake].measures["landmarks"]
    rows = {r["measure"]: r for r in artifacts.measure_effects(pairs, seen)}
    assert rows["boundary residual"]["n"] == 8
    wander = rows["jaw wander"]
    assert wander["family"] == "landmarks" and wander["n"] == 6
    assert wander["ratio"] > 2.5 and wander["share_higher"] == 1.0
    assert sum(m["n"] for m in wander["methods"].values()) == 6


def test_holm_adjusts_over_the_measures_tested() -> None:
    adjusted = artifacts.holm([0.01, 0.04, 0.03, float("nan")])
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])  # 3 tests; kept monotone
    assert np.isnan(adjusted[3])


def test_family_effects_with_and_without_the_model() -> None:
    pairs = [Pair(Path(f"f{i}"), Path(f"o{i}"), "DF", f"g{i}") for i in range(8)]
    seen = {}
    for i, p in enumerate(pairs):
        seen[p.original] = _measured(1.0 + 0.1 * i, 0.0)
        seen[p.fake] = _measured(1.5 + 0.1 * i + 0.01 * (i % 3), 0.1 + 0.01 * i)
    res = artifacts.analyse(pairs, seen)
    assert (res["pairs"], res["identities"], res["methods"]) == (8, 8, {"DF": 8})
    boundary, flicker = res["families"]["boundary"], res["families"]["flicker"]
    assert boundary["in_model"] and not flicker["in_model"] and "push" not in flicker
    assert boundary["top"][0]["column"] == "mean residual" and boundary["large"] == 1
    assert np.isnan(boundary["d_z"]["spread residual"])  # no difference at all: no effect
    assert boundary["push_fake"] == pytest.approx(0.135) and boundary["push"]["d_z"] > 0.8
    assert res["score"]["share_higher"] == 1.0


@pytest.mark.parametrize("in_model", [["frequency", "flicker"], ["frequency"]])
def test_the_doc_shows_every_picture_and_which_families_the_model_uses(
    tmp_path: Path, in_model: list[str]
) -> None:
    pics = {
        "sample_score": 0.1,
        "self_blend_score": 0.9,
        "threshold": 0.5,
        "model": "m",
        "seed": 0,
        "in_model": in_model,
        "differences": [],
    }
    out = tmp_path / "artifacts.md"
    artifacts_doc.write_markdown(out, None, pics)
    text = out.read_text()
    shown = re.findall(r"\]\(artifacts/([\w-]+)\.png\)", text)
    # Every picture drawn is shown, once, and every registry family has its own.
    assert sorted(shown) == sorted(artifacts_doc.PICTURES)
    assert {f"family-{n}" for n in (*FAMILY_NAMES, *CLIP_NAMES)} <= set(shown)
    unused = re.findall(r"\*\*(\w+)\*\* \(not used by the shipped model\)", text)
    later = ("surround", "colour", "upsampling", "flicker", "landmarks")
    assert unused == [n for n in later if n not in in_model]
