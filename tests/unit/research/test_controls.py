"""research.controls: the nuisance control as the model-choosing scripts report it."""

from __future__ import annotations

import numpy as np

from common.nuisance import Nuisance
from models.manifest import Item
from research.controls import confound_line, control, matched_cell


def _set(face_real: float, face_fake: float, n: int = 60) -> tuple[list[Item], list[Nuisance]]:
    rng = np.random.default_rng(3)
    items, recs = [], []
    for i in range(n):
        fake = i % 2 == 1
        items.append(Item(f"v{i}.mp4", "fake" if fake else "real", f"g{i // 4}", "", "m"))
        face = (face_fake if fake else face_real) * rng.uniform(0.9, 1.1)
        recs.append(Nuisance(1280, 720, 25.0, 250, 10**6, 16, 16, face, 0.4 * face, 0.5, 0.4))
    return items, recs


def test_a_face_size_confound_is_named_and_a_failed_scan_is_left_out() -> None:
    items, recs = _set(60.0, 120.0)
    scores = np.array([it.y + 0.1 * i for i, it in enumerate(items)], float)
    scores[0] = np.nan  # a video the model could not scan
    ctl = control(items, recs, scores)
    assert ctl["n_videos"] == len(items) - 1
    line = confound_line("FF++ c40", ctl)
    assert line.startswith("- **FF++ c40**: CONFOUNDED.")
    assert "face size (face_px 1.00" in line and "frame size" not in line
    # Faces 60 against 120 px (+-10%) never come within 20%: nothing to match.
    assert matched_cell(ctl) == "- (no pairs)"


def test_a_clean_set_says_so_and_gives_the_matched_auc() -> None:
    items, recs = _set(100.0, 100.0)
    y = np.array([it.y for it in items])
    ctl = control(items, recs, y + np.random.default_rng(0).normal(0, 0.5, y.size))
    assert confound_line("dev", ctl).startswith("- **dev**: no nuisance at or over AUC 0.70")
    m = ctl["matched"]
    assert matched_cell(ctl) == f"{m['auc']:.3f} ({m['n_pairs']} pairs)" and m["n_pairs"] > 0
