"""research.crop_jitter's arithmetic (the research data it reads is never needed here)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from research import crop_jitter


@pytest.fixture(scope="module")
def cj():  # type: ignore[no-untyped-def]
    return crop_jitter


def test_summary_of_draws(cj) -> None:  # type: ignore[no-untyped-def]
    y = np.array([0, 0, 1, 1])
    scores = np.array(
        [
            [0.1, 0.2, 0.8, 0.9],  # as found: separated
            [0.1, 0.6, 0.5, 0.9],  # draw 1: one real above one fake
            [0.3, 0.2, 0.8, 0.7],  # draw 2: separated
        ]
    )
    s = cj.summarise(scores, y)
    assert s["auc_as_found"] == 1.0
    assert s["auc_draws_min"] == 0.75 and s["auc_draws_max"] == 1.0
    assert s["auc_draws_mean"] == pytest.approx(0.875)
    assert s["auc_jitter_averaged"] == 1.0  # means 0.2, 0.4 vs 0.65, 0.8
    sd = np.std(scores[1:], axis=0)  # 0.1, 0.2, 0.15, 0.1 -> median 0.125
    gap = 0.725 - 0.3
    assert s["score_sd_median"] == pytest.approx(np.median(sd))
    assert s["sd_over_gap"] == pytest.approx(0.125 / gap)


def test_failed_scans_are_left_out(cj) -> None:  # type: ignore[no-untyped-def]
    y = np.array([0, 0, 1, 1])
    scores = np.array([[0.1, np.nan, 0.8, 0.9], [0.2, np.nan, 0.7, 0.6]])
    s = cj.summarise(scores, y)
    assert s["auc_as_found"] == 1.0 and s["auc_jitter_averaged"] == 1.0


def test_paired_bootstrap(cj) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    a = rng.random(60)
    assert cj.paired_bootstrap(a, a, y, n=200) == (0.0, 0.0, 0.0)
    b = y + 0.1 * rng.random(60)  # perfect ranking
    d, lo, hi = cj.paired_bootstrap(a, b, y, n=400)
    assert d > 0.2 and 0 < lo <= d <= hi


def test_no_research_data_is_said_plainly(cj, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "argv", ["crop_jitter.py", "--model", "x", "--data", str(tmp_path)])
    assert cj.main() == 2
    assert "no research data" in capsys.readouterr().err
