"""ROC and DET plots of an evaluation (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluation.blocks import block
from models.metrics import auc, det, roc

DET_TICKS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99)


def _curves(scores: np.ndarray, y: np.ndarray, methods: Sequence[str] | None):
    yield "all", scores, y
    if methods is None:
        return
    m = np.asarray(methods)
    fake_methods = sorted(set(m[y == 1].tolist()))
    if len(fake_methods) > 1:
        for name in fake_methods:
            sel = (y == 0) | ((y == 1) & (m == name))
            yield name, scores[sel], y[sel]


@contextmanager
def _figure(path: Path, title: str, legend_loc: str) -> Iterator[Any]:
    """An Agg figure saved to ``path`` when the block ends (headless: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    try:
        yield ax
        ax.set_title(title)
        if ax.get_legend_handles_labels()[1]:  # no curve (nothing scored): no empty legend
            ax.legend(loc=legend_loc, fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _draw_curves(ax, scores, y, methods, thr: float, xy: Callable, curve: Callable) -> None:  # type: ignore[no-untyped-def]
    """One ``curve`` (roc or det) per method (bold for all), and the operating point, in
    ``xy(frr, far)``."""
    for name, s, yy in _curves(scores, y, methods):
        if len(set(yy.tolist())) < 2:
            continue
        _, far, frr = curve(s, yy)
        lw = 2.0 if name == "all" else 1.0
        ax.plot(*xy(frr, far), lw=lw, label=f"{name} (AUC {auc(s, yy):.3f})")
        if name == "all":
            at = block(s, yy, thr)
            x, yv = xy(np.array([at["frr"]]), np.array([at["far"]]))
            ax.plot(x, yv, "ko", label=f"threshold {thr:.3f}")


def plot_roc(scores, y, methods, thr: float, path: Path, title: str = "") -> None:  # type: ignore[no-untyped-def]
    with _figure(path, title or "ROC", "lower right") as ax:
        _draw_curves(ax, scores, y, methods, thr, lambda frr, far: (frr, 1 - far), roc)
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_xlabel("FRR: real videos flagged (BPCER)")
        ax.set_ylabel("1 - FAR: fakes caught (1 - APCER)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)


def plot_det(scores, y, methods, thr: float, path: Path, title: str = "") -> None:  # type: ignore[no-untyped-def]
    """DET: FAR against FRR, both on normal-deviate (probit) axes, ticks in percent."""
    from scipy.stats import norm

    lo, hi = DET_TICKS[0], DET_TICKS[-1]

    def dev(p):  # type: ignore[no-untyped-def]
        return norm.ppf(np.clip(p, lo / 2, 1 - lo / 2))

    with _figure(path, title or "DET", "upper right") as ax:
        _draw_curves(ax, scores, y, methods, thr, lambda frr, far: (dev(frr), dev(far)), det)
        ticks = norm.ppf(DET_TICKS)
        labels = [f"{100 * t:g}" for t in DET_TICKS]
        ax.plot(ticks, ticks, ":", color="grey", label="EER line")
        ax.set_xticks(ticks, labels)
        ax.set_yticks(ticks, labels)
        ax.set_xlim(norm.ppf(lo / 2), norm.ppf(hi))
        ax.set_ylim(norm.ppf(lo / 2), norm.ppf(hi))
        ax.set_xlabel("FRR: real videos flagged (%)")
        ax.set_ylabel("FAR: fakes accepted as real (%)")
