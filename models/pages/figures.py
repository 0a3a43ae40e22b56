"""The PNGs of the static pages (matplotlib, Agg: no display needed).

Each function draws one figure to ``path``. Where two videos are shown (``dfscan explain
--against``), maps are drawn side by side and curves and bars overlaid, the examined video
in red and the real reference in blue, everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common.features.pictures import Panel, Picture
from common.features.regions import regions
from common.types import Face

COLOURS = ("tab:red", "tab:blue")
# Groups of a "tracks" panel, in order: neither red nor blue, which name the videos.
GROUP_COLOURS = ("tab:green", "tab:purple", "darkgrey", "tab:orange", "tab:brown")
DPI = 90


@dataclass(frozen=True, slots=True)
class Shown:
    """One video's contribution to a figure: its name on the page and its picture."""

    label: str
    picture: Picture
    face: Face | None = None  # the crop the maps were made from (for the region outlines)


@contextmanager
def figure(path: Path, nrows: int, ncols: int, size: tuple[float, float]) -> Iterator[Any]:
    """A grid of axes (always 2-D) saved to ``path`` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)


def _rgb(crop: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)


def _outline(ax: Any, mask: np.ndarray) -> None:
    """The inner-face mask's edge (white) and the blend band's two edges (dashed yellow)."""
    reg = regions(mask)
    ax.contour(reg.face, levels=[0.5], colors="white", linewidths=0.8)
    ax.contour(reg.band, levels=[0.5], colors="yellow", linewidths=0.6, linestyles="dashed")


def draw_crops(videos: Sequence[tuple[str, Sequence[Face]]], path: Path, per_row: int = 8) -> None:
    """Every sampled face crop, with the blend band tinted and the mask edge drawn."""
    rows = [
        (label, faces[i : i + per_row])
        for label, faces in videos
        for i in range(0, len(faces), per_row)
    ]
    with figure(path, len(rows), per_row, (1.4 * per_row, 1.55 * len(rows))) as (_, axes):
        for r, (label, faces) in enumerate(rows):
            for c in range(per_row):
                ax = axes[r][c]
                ax.axis("off")
                if c >= len(faces):
                    continue
                face = faces[c]
                img = _rgb(face.crop).astype(np.float32)
                band = regions(face.mask).band
                img[band] = 0.7 * img[band] + 0.3 * np.array([255, 200, 0], np.float32)
                ax.imshow(img.astype(np.uint8))
                _outline(ax, face.mask)
                ax.set_title(f"{label} #{face.frame_index}", fontsize=7)


def _shared_range(panels: Sequence[Panel]) -> tuple[float, float]:
    """The panel's own value range, else one over all the maps shown (robust percentiles)."""
    if panels[0].vrange is not None:
        return panels[0].vrange
    values = np.concatenate([p.data.ravel() for p in panels])
    lo, hi = np.percentile(values, [0.5, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1e-9)


def _draw_map(ax: Any, panel: Panel, shown: Shown, title: str, vrange: tuple[float, float]) -> None:
    image = ax.imshow(
        panel.data, cmap=panel.cmap, interpolation="nearest", vmin=vrange[0], vmax=vrange[1]
    )
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    if panel.outline and shown.face is not None and shown.face.mask.shape == panel.data.shape:
        _outline(ax, shown.face.mask)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _shared_box(panels: Sequence[Panel]) -> tuple[float, float, float, float] | None:
    """One x and y range (x0, x1, y0, y1) over all the tracks shown, so their wander
    compares at a glance; None when no track has a point."""
    pts = np.concatenate([p.data[:, :2] for p in panels])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.05 * max(float((hi - lo).max()), 1e-6)
    return lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad


def _draw_tracks(ax: Any, panel: Panel, title: str, box: tuple[float, ...] | None) -> None:
    """Each track's points joined in order, coloured by group, on equal axes over ``box``."""
    x, y, group, track = panel.data.T
    for g in np.unique(group).astype(int):
        colour = GROUP_COLOURS[g % len(GROUP_COLOURS)]
        name = panel.series[g] if g < len(panel.series) else None
        for k in np.unique(track[group == g]):
            on = track == k
            # A dot per frame: a track that never moves still shows as one point.
            ax.plot(x[on], y[on], "-o", color=colour, lw=0.6, ms=1.2, label=name)
            name = None  # one legend entry per group
    if box is not None:
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel(panel.xlabel, fontsize=7)
    ax.tick_params(labelsize=6)
    if ax.get_legend_handles_labels()[0]:  # below the axes: the face fills them
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)


def _draw_series(
    ax: Any, panel: Panel, colour: str, label: str, offset: float, width: float
) -> None:
    """One video's curves or bars of a panel; several series get their own line styles."""
    styles = ("-", "--", ":", "-.")
    n = panel.data.shape[1]
    for k, row in enumerate(panel.data):
        name = panel.series[k] if k < len(panel.series) else ""
        tag = ", ".join(t for t in (label, name) if t)
        if panel.kind == "bars":
            x = np.arange(n) + offset + k * width
            ax.bar(x, row, width=width, color=colour, alpha=1.0 - 0.45 * k, label=tag or None)
        else:
            x = panel.x if panel.x is not None else np.arange(n)
            few = panel.data.shape[0] <= len(styles)
            style = styles[k % len(styles)] if few else "-"
            # A curve broken between runs (NaN) gets dots: a run of one frame is a point.
            dots = {"marker": "o", "ms": 2} if np.isnan(row).any() else {}
            lw = 1.2 if few else 0.6
            ax.plot(x, row, style, color=colour, lw=lw, label=tag if few else None, **dots)


def _draw_overlay(ax: Any, panel_of: Sequence[tuple[Shown, Panel]]) -> None:
    first = panel_of[0][1]
    k = max(p.data.shape[0] for _, p in panel_of)
    width = 0.8 / (len(panel_of) * k)
    for i, (shown, panel) in enumerate(panel_of):
        label = shown.label if len(panel_of) > 1 else ""
        _draw_series(ax, panel, COLOURS[i % 2], label, -0.4 + i * k * width + width / 2, width)
    if first.kind == "bars" and first.ticks:
        ax.set_xticks(
            np.arange(first.data.shape[1]), first.ticks, rotation=60, ha="right", fontsize=6
        )
        ax.axhline(0, color="grey", lw=0.5)
    ax.set_title(first.title, fontsize=8)
    ax.set_xlabel(first.xlabel, fontsize=7)
    ax.set_ylabel(first.ylabel, fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)


def draw_side_by_side(row: Sequence[Any], here: Sequence[tuple[Shown, Panel]]) -> None:
    """One video's map or tracks per axis of ``row``, all on one value range or one box."""
    panels = [p for _, p in here]
    maps = panels[0].kind == "map"
    vrange = _shared_range(panels) if maps else None
    box = None if maps else _shared_box(panels)
    for ax, (s, panel) in zip(row, here, strict=False):
        title = f"{s.label}: {panel.title}" if len(row) > 1 else panel.title
        if vrange is not None:
            _draw_map(ax, panel, s, title, vrange)
        else:
            _draw_tracks(ax, panel, title, box)
    for ax in row[len(here) :]:
        ax.axis("off")


def draw_picture(shown: Sequence[Shown], path: Path) -> None:
    """A family's picture: one row per panel; maps and tracks side by side, curves and bars
    overlaid.

    Panels are matched by position; a video whose picture lacks a panel leaves a gap.
    """
    n_panels = max(len(s.picture.panels) for s in shown)
    ncols = len(shown)
    with figure(path, n_panels, ncols, (3.4 * max(ncols, 1.6), 2.9 * n_panels)) as (fig, axes):
        for r in range(n_panels):
            here = [(s, s.picture.panels[r]) for s in shown if r < len(s.picture.panels)]
            if here and here[0][1].kind in ("map", "tracks"):
                draw_side_by_side(axes[r], here)
                continue
            for c in range(ncols):
                axes[r][c].remove()
            ax = fig.add_subplot(n_panels, 1, r + 1)
            _draw_overlay(ax, here)


@dataclass(frozen=True, slots=True)
class Curves:
    """One video's values over its sampled frames, by name."""

    label: str
    frames: Sequence[int]
    values: dict[str, np.ndarray]


def draw_curves(videos: Sequence[Curves], path: Path, title: str) -> None:
    """One subplot per name, each video's curve over the frame numbers, overlaid."""
    names = list(dict.fromkeys(n for v in videos for n in v.values))
    with figure(path, len(names), 1, (6.4, 1.9 * len(names) + 0.3)) as (fig, axes):
        for ax, name in zip(axes[:, 0], names, strict=True):
            for i, v in enumerate(videos):
                if name in v.values:
                    ax.plot(
                        v.frames, v.values[name], "o-", ms=3, color=COLOURS[i % 2], label=v.label
                    )
            ax.set_ylabel(name, fontsize=7)
            ax.tick_params(labelsize=6)
            ax.grid(alpha=0.3)
            if len(videos) > 1:
                ax.legend(fontsize=6)
        axes[-1][0].set_xlabel("frame", fontsize=7)
        fig.suptitle(title, fontsize=9)


def draw_pushes(videos: Sequence[tuple[str, dict[str, float]]], path: Path) -> None:
    """Each family's push towards "fake" (the ablation), one bar per video, as horizontal bars."""
    names = list(dict.fromkeys(n for _, p in videos for n in p))
    height = 0.8 / max(len(videos), 1)
    with figure(path, 1, 1, (6.4, 0.3 * len(names) * len(videos) + 1.0)) as (_, axes):
        ax = axes[0][0]
        y = np.arange(len(names))
        for i, (label, pushes) in enumerate(videos):
            vals = [pushes.get(n, 0.0) for n in names]
            ax.barh(y + i * height, vals, height=height, color=COLOURS[i % 2], label=label)
        ax.set_yticks(y + height * (len(videos) - 1) / 2, names, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel(
            'push towards "fake": score drop when the family is set to average', fontsize=7
        )
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="x")
        if len(videos) > 1:
            ax.legend(fontsize=7)


def draw_histogram(
    edges: np.ndarray, counts: dict[str, np.ndarray], threshold: float | None, path: Path
) -> None:
    """Stacked score histogram, one colour per ground-truth label, with the threshold."""
    colours = {"fake": "tab:red", "real": "tab:blue", "unlabelled": "tab:grey"}
    with figure(path, 1, 1, (6.4, 3.0)) as (_, axes):
        ax = axes[0][0]
        bottom = np.zeros(len(edges) - 1)
        for name, c in counts.items():
            ax.bar(
                edges[:-1],
                c,
                width=np.diff(edges),
                bottom=bottom,
                align="edge",
                color=colours.get(name, "tab:green"),
                label=name,
            )
            bottom += c
        if threshold is not None:
            ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.3f}")
        ax.set_xlim(0, 1)
        ax.set_xlabel("score: P(fake)", fontsize=8)
        ax.set_ylabel("videos", fontsize=8)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)


def write_thumbnail(face: Face, path: Path, side: int = 96) -> None:
    cv2.imwrite(str(path), cv2.resize(face.crop, (side, side), interpolation=cv2.INTER_AREA))
