"""The leave-one-dataset-out folds and metrics of the generalization harness, on made-up items.

The harness itself reads ../shared/data and is not run here; these pin the parts whose error
would silently change its table: who a fold may train on, the AUC and FAR figures, and the
paired bootstrap.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from models.manifest import Item
from models.metrics import far_at_frr
from research import lodo
from research.shared_data import all_items, available, source_of, talking_head_source


def _items() -> list[Item]:
    its = [
        Item("c23/f1", "fake", "ffpp:183", "train", "ffpp-c23:Deepfakes"),
        Item("c23/r1", "real", "ffpp:183", "train", "ffpp-c23:original"),
        Item("c23/f2", "fake", "ffpp:900", "train", "ffpp-c23:FaceSwap"),
        Item("c23/r2", "real", "ffpp:900", "train", "ffpp-c23:original"),
        Item("c40/f1", "fake", "ffpp:183", "train", "ffpp-c40:Deepfakes"),
        Item("c40/r1", "real", "ffpp:183", "train", "ffpp-c40:original"),
        Item("c40/r2", "real", "ffpp:777", "train", "ffpp-c40:original"),
        Item("cdf/f1", "fake", "cdf:1", "train", "celebdf:Celeb-synthesis"),
        Item("cdf/r1", "real", "cdf:1", "train", "celebdf:Celeb-real"),
        Item("dft/tf", "fake", "dft:a", "train", "dft:faceswap-gan"),
        Item("dft/tr", "real", "dft:a", "train", "dft:vidtimit"),
        Item("dft/vf", "fake", "dft:b", "val", "dft:faceswap-gan"),
        Item("dft/vr", "real", "dft:b", "val", "dft:vidtimit"),
        Item("pristine/p", "real", "pristine:p", "train", "pristine"),
    ]
    its += [
        Item(f"heads/{s}{k}", "real", f"{s}:person{k}", "train", "talking-heads")
        for s in ("grid", "mead", "crema", "lrs", "web", "tv", "phone")
        for k in range(2)
    ]
    return its


def test_a_fold_drops_the_held_out_identities_from_every_source() -> None:
    items = _items()
    held = lodo.test_items(items, "ffpp-c23")
    drop = lodo.excluded(items, held, "ffpp-c23")
    # FF++ id 183 is held out in c23, so its c40 copies go too; id 777 (c40 only) stays.
    assert {"c40/f1", "c40/r1"} <= drop
    assert "c40/r2" not in drop and "cdf/f1" not in drop


def test_the_deepfaketimit_fold_scores_val_and_drops_the_whole_dataset() -> None:
    items = _items()
    held = lodo.test_items(items, "dft")
    assert {it.target for it in held} == {"dft/vf", "dft/vr"}
    drop = lodo.excluded(items, held, "dft")
    assert {"dft/tf", "dft/tr"} <= drop and "pristine/p" not in drop


def test_talking_head_folds_split_by_source_and_cover_every_head() -> None:
    items = _items()
    folds = lodo.talking_head_folds(items, k=5)
    heads = [it for it in items if source_of(it) == "talking-heads"]
    assert sorted(it.target for f in folds for it in f) == sorted(it.target for it in heads)
    sources = [{talking_head_source(it) for it in f} for f in folds]
    for i, a in enumerate(sources):
        for b in sources[i + 1 :]:
            assert not a & b  # no source in two folds


def test_far_at_frr_uses_the_threshold_that_flags_that_share_of_reals() -> None:
    reals = np.arange(20) / 20  # 0.00 .. 0.95
    fakes = np.array([0.5, 0.93, 0.96, 0.99])
    s, y = np.r_[reals, fakes], np.r_[np.zeros(20, int), np.ones(4, int)]
    # FRR 5% of 20 reals = 1 flagged: threshold at the second-highest real (0.90).
    assert far_at_frr(s, y, 0.05).far == pytest.approx(1 / 4)
    # FRR 0: threshold at the highest real (0.95); 0.5 and 0.93 pass as real.
    assert far_at_frr(s, y, 0.0).far == pytest.approx(2 / 4)


def _scored(items: list[Item], noise: float, seed: int) -> lodo.Scored:
    rng = np.random.default_rng(seed)
    out = lodo.Scored()
    for it in items:
        out.scores[it.target] = float(it.y + noise * rng.standard_normal())
        out.threshold[it.target] = 0.5
    return out


def test_the_bootstrap_is_paired_and_ranks_a_better_candidate_higher() -> None:
    items = _items()
    good, poor = _scored(items, 0.1, 0), _scored(items, 3.0, 1)
    vs = lodo.views(items, good)
    means = lodo.bootstrap_means(vs, {"a": good, "b": good, "poor": poor}, n=200)
    assert np.array_equal(means["a"], means["b"])  # same scores, same draws
    valid = ~np.isnan(means["poor"])
    assert np.mean(means["a"][valid] >= means["poor"][valid]) > 0.9
    row = lodo.source_row(vs["ffpp-c23"], good)
    assert row["auc"] == 1.0 and row["n_fake"] == 2 and row["n_real"] == 2
    frr, n = lodo.head_frr(items, good)
    assert n == 14 and frr == 0.0


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_shared_data_names_the_source_of_each_video(tmp_path: Path) -> None:
    assert not available(tmp_path)
    for sub in ("deepfaketimit_lq/val/fake/s1/sa1", "deepfaketimit_lq/val/real/s1/sa1"):
        (tmp_path / sub).mkdir(parents=True)
    _write(tmp_path / "pristine/manifest.csv", [{"path": "pristine/a.mp4", "group": "a"}])
    _write(
        tmp_path / "ffpp_c40/manifest.csv",
        [{"path": "ffpp_c40/x.mp4", "label": "fake", "method": "Deepfakes", "group": "ffpp:1"}],
    )
    dev = [
        ("FaceForensics++ c23", "fake", "Face2Face", "ffpp:1"),
        ("Celeb-DF v2", "real", "YouTube-real", "cdf:2"),
        ("GRID", "real", "", "grid:s3"),
    ]
    _write(
        tmp_path / "dev/manifest.csv",
        [
            {"path": f"v{i}.mp4", "dataset": d, "label": lab, "method": m, "group": g}
            for i, (d, lab, m, g) in enumerate(dev)
        ],
    )
    assert available(tmp_path)
    by_source = {source_of(it): it for it in all_items(tmp_path)}
    assert set(by_source) == {"ffpp-c23", "celebdf", "talking-heads", "ffpp-c40", "pristine", "dft"}
    assert by_source["ffpp-c23"].method == "ffpp-c23:Face2Face"
    assert by_source["ffpp-c40"].group == by_source["ffpp-c23"].group  # shared FF++ ids
    assert talking_head_source(by_source["talking-heads"]) == "grid"


def test_the_rule_prefers_the_simplest_candidate_within_a_hundredth() -> None:
    from research.generalize_report import _choice

    def cand(mean: float, lo: float, fams: int, frames: int = 16, frr: float = 0.01) -> dict:
        fam = [f"f{i}" for i in range(fams)]
        return dict(
            mean_auc=mean, diff_ci=(lo, lo + 0.1), heads_frr=frr, families=fam, frames=frames
        )

    c = {
        "today": cand(0.70, 0.0, 4),
        "big": cand(0.760, 0.02, 7),
        "small": cand(0.752, -0.01, 5),
        "fast": cand(0.90, 0.2, 4, frr=0.05),  # breaks the FRR constraint
    }
    text = " ".join(_choice(c))
    assert "highest mean **big**" in text and "simplest within 0.01 of it: **small**" in text
    assert "does not replace" in text
    c["small"]["diff_ci"] = (0.001, 0.1)
    assert "so it replaces" in " ".join(_choice(c))


def test_each_method_is_scored_against_all_of_its_sources_reals() -> None:
    items = _items()
    sc = _scored(items, 0.0, 0)  # fakes 1.0, reals 0.0
    sc.scores["c23/f2"] = 0.5  # the FaceSwap fake: above one real only
    sc.scores["c23/r2"] = 0.7
    vs = lodo.views(items, sc)
    assert lodo.method_aucs(items, vs["ffpp-c23"], sc) == {"Deepfakes": 1.0, "FaceSwap": 0.5}
    # A source with one method gets no breakdown (its AUC is the source's).
    assert lodo.method_aucs(items, vs["celebdf"], sc) == {}
    assert lodo.method_aucs(items, vs["ffpp-c40"], sc) == {}


def test_the_report_has_a_per_method_table() -> None:
    from research.generalize_report import render

    items = _items()
    scored = {"today": _scored(items, 0.1, 0), "cand": _scored(items, 0.1, 1)}
    info = {"today": {}, "cand": {"note": "made up", "families": ["f"], "frames": 16}}
    res = render(items, scored, info, {}, boot=50, seconds=1.0)
    text = "\n".join(res.lines)
    assert "### Per manipulation method" in text
    assert "| candidate | FF++ c23 Deepfakes (1) | FF++ c23 FaceSwap (1) |" in text
    assert res.data["candidates"]["cand"]["methods"]["ffpp-c23"] == {
        "Deepfakes": 1.0,
        "FaceSwap": 1.0,
    }
