"""Frame-score pooling of the generalization harness, on made-up feature rows."""

from __future__ import annotations

import numpy as np
import pytest

from common.features import CLIP_FAMILIES, FAMILIES
from models.featurize import Featurized
from models.manifest import Item
from models.metrics import auc
from research.pooling import fit_pooled, frames_of, pool

D = sum(f.length for f in FAMILIES)
C = sum(f.length for f in CLIP_FAMILIES)
FAMS = ("frequency", "surround", "flicker")


def test_pool_takes_the_mean_or_the_top_quarter() -> None:
    s = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert pool(s, "mean") == 3.5
    assert pool(s, "top") == 6.5  # the top 2 of 8
    assert pool(np.array([2.0]), "top") == 2.0
    with pytest.raises(ValueError):
        pool(s, "max")


def _row(i: int, fake: bool, rng: np.random.Generator) -> Featurized:
    shift = 1.5 if fake else 0.0
    item = Item(f"v{i}", "fake" if fake else "real", f"g{i // 2}", "train", "src")
    matrix = rng.standard_normal((16, D)) + shift
    return Featurized(item, matrix.astype(np.float32), clip=rng.standard_normal(C) + shift)


def test_frames_of_spaces_the_frames_and_repeats_the_clip_vector() -> None:
    r = _row(0, False, np.random.default_rng(0))
    x = frames_of(r, FAMS, 4)
    assert x.shape[0] == 4
    assert np.allclose(x[:, -x.shape[1] + x.shape[1] - 1], x[0, -1])  # same clip value each row
    assert frames_of(r, ("frequency",)).shape == (16, FAMILIES[0].length)


def test_a_frame_model_ranks_made_up_fakes_above_reals() -> None:
    rng = np.random.default_rng(1)
    train = [_row(i, i % 2 == 1, rng) for i in range(40)]
    test = [_row(100 + i, i % 2 == 1, rng) for i in range(20)]
    model, thresholds = fit_pooled(train, FAMS)
    assert set(thresholds) == {"mean", "top"}
    scores = [pool(model.decision_function(frames_of(r, FAMS)), "mean") for r in test]
    y = np.array([r.item.y for r in test])
    assert auc(np.array(scores), y) > 0.95
