"""Pictures of what the clip families measure over the face track, keyed by family name.

The clip-family half of :mod:`common.features.pictures`: each function is pure, ``FaceTrack
-> Picture`` (numbers only; ``models.pages`` draws them), and reads the track through its
family's own helpers, so the picture shows what the family measured rather than a look-alike.
Curves run over the sampled frames' positions (the ``segments`` sampling takes a few runs of
consecutive frames far apart in the video) and break between runs: only a run's neighbours
are compared by the families.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from common.features.flicker import _frame_stats, consecutive_pairs, flicker_pairs
from common.features.landmarks import INNER, PARTS, _apply, _pose_gap, _similarity
from common.features.pictures import ClipPictureFn, Panel, Picture
from common.types import FaceTrack

# How much a landmark's wander about the clip's mean shape is magnified in the track picture:
# a swap's jitter is a few hundredths of the inter-ocular distance, invisible at scale 1.
GAIN = 10.0
# Groups of the track picture, in its colour order: the pasted inner face against the jaw
# line (the pair the landmark family compares), the other parts as context.
TRACK_GROUPS = ("inner face (eyes, nose)", "jaw", "brows, mouth")
_GROUP_OF = np.full(68, 2)
_GROUP_OF[list(INNER)] = 0
_GROUP_OF[list(PARTS["jaw"])] = 1


def runs_broken(x: np.ndarray, values: np.ndarray, frame_index: np.ndarray) -> tuple:
    """``x`` (N,) and ``values`` (K, N) with a NaN column wherever ``frame_index`` (N,) skips
    frames of the video, so a drawn line breaks between runs of consecutive frames."""
    gaps = np.flatnonzero(np.diff(frame_index) != 1) + 1
    nan = np.full((values.shape[0], len(gaps)), np.nan)
    return (
        np.insert(np.asarray(x, np.float64), gaps, np.nan),
        np.insert(np.asarray(values, np.float64), gaps, nan, axis=1),
    )


def _lightness(track: FaceTrack) -> np.ndarray:
    """(2, T): per frame, mean L (CIELAB, 0..255) of the inner face minus the ring's, and the
    ring's own, as the flicker family computes them."""
    means = [_frame_stats(c, m)[1] for c, m in zip(track.crops, track.masks, strict=True)]
    return np.array([[inner[0] - ring[0], ring[0]] for inner, ring in means]).T


def flicker_picture(track: FaceTrack) -> Picture:
    """Inner face against ring, frame by frame: its lightness and its fine detail's change.

    A pasted face jumps against its surround: the inner-minus-ring curve is jagged while the
    ring's own is flat (light changing for the whole scene moves both). Each curve is shown
    minus its clip mean so two videos overlay. The detail panel is the family's per-pair
    aligned band-0 change (``flicker_pairs``), inside the face and in the ring.
    """
    t = np.arange(len(track))
    light = _lightness(track)
    x, light = runs_broken(t, light - light.mean(axis=1, keepdims=True), track.frame_index)
    pairs = np.array(consecutive_pairs(track.frame_index), dtype=np.int64)
    p = flicker_pairs(track)
    inside = p[:, 6]
    ring = (inside + 1e-6) / np.exp(p[:, 4]) - 1e-6  # undo the family's safe_log_ratio
    px, detail = runs_broken(pairs + 0.5, np.stack([inside, ring]), pairs)
    panels = (
        Panel(
            "mean L (CIELAB) per frame, minus its clip mean",
            "curve",
            light,
            x=x,
            series=("inner face - ring", "ring"),
            xlabel="sampled frame (breaks between runs)",
            ylabel="L, 0..255",
        ),
        Panel(
            "fine detail change between consecutive frames (aligned band 0)"
            + ("" if len(p) else ": no two consecutive frames sampled"),
            "curve",
            detail,
            x=px,
            series=("inner face", "ring"),
            xlabel="between sampled frames t and t+1",
            ylabel="|change| / energy",
        ),
    )
    measures = {}
    if len(p):
        measures["face L jump against ring"] = float(p[:, 0].mean())
        measures["ring L change"] = float(p[:, 3].mean())
    if np.isfinite(inside).any():
        measures["fine detail change inside"] = float(np.nanmean(inside))
    return Picture(panels, measures)


def _aligned(track: FaceTrack) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Frames with landmarks, their points aligned to the clip's mean shape by a similarity
    on all 68 points, the mean shape and its inter-ocular distance, as the family has them."""
    ok = np.flatnonzero(~np.isnan(track.landmarks).any(axis=(1, 2)))
    lms = track.landmarks[ok].astype(np.float64)
    ref = lms.mean(axis=0)
    iod = float(np.linalg.norm(ref[36:42].mean(0) - ref[42:48].mean(0))) + 1e-6
    aligned = np.array([lm if (m := _similarity(lm, ref)) is None else _apply(m, lm) for lm in lms])
    return ok, aligned, ref, iod


def _tracks(aligned: np.ndarray, ref: np.ndarray, iod: float) -> np.ndarray:
    """(68 T, 4) rows (x, y, group, track): each point's path about its mean position, in
    inter-ocular distances with the wander magnified GAIN times, y up."""
    shown = (ref - ref.mean(axis=0) + GAIN * (aligned - ref)) / iod  # (T, 68, 2)
    path = shown.transpose(1, 0, 2)  # (68, T, 2): one track per point
    n = path.shape[1]
    group = np.repeat(_GROUP_OF, n)
    return np.c_[path[..., 0].ravel(), -path[..., 1].ravel(), group, np.repeat(np.arange(68), n)]


def landmarks_picture(track: FaceTrack) -> Picture:
    """The landmark tracks after rigid alignment, and the inner face's pose against the jaw's.

    A pasted inner face jitters against the jaw line: its tracks scatter more than the jaw's,
    and the similarities that map the inner face and the jaw onto the mean shape disagree
    from frame to frame (the family's pose gap: rotation, log scale, shift in inter-ocular
    distances). Frames without landmarks are left out.
    """
    tracks, gaps, x = np.zeros((0, 4)), np.zeros((3, 0)), np.zeros(0)
    measures = {}
    if not np.isnan(track.landmarks).all():
        ok, aligned, ref, iod = _aligned(track)
        tracks = _tracks(aligned, ref, iod)
        lms = track.landmarks[ok].astype(np.float64)
        rows = [(t, g) for t, lm in zip(ok, lms, strict=True) if (g := _pose_gap(lm, ref, iod))]
        if rows:
            at = np.array([t for t, _ in rows])
            x, gaps = runs_broken(at, np.array([g for _, g in rows]).T, track.frame_index[at])
            measures["pose shift gap"] = float(np.nanmean(gaps[2]))
        wander = np.linalg.norm(aligned - ref, axis=2).mean(axis=0) / iod  # per point
        measures["inner-face wander"] = float(wander[list(INNER)].mean())
        measures["jaw wander"] = float(wander[list(PARTS["jaw"])].mean())
    panels = (
        Panel(
            f"aligned landmark tracks (wander x{GAIN:g})" + ("" if measures else ": no landmarks"),
            "tracks",
            tracks,
            series=TRACK_GROUPS,
            xlabel="inter-ocular distances",
        ),
        Panel(
            "pose gap, inner face vs jaw, per frame",
            "curve",
            gaps,
            x=x,
            series=("rotation (rad)", "log scale", "shift (IOD)"),
            xlabel="sampled frame (breaks between runs)",
            ylabel="inner face - jaw",
        ),
    )
    return Picture(panels, measures)


# Clip family name -> its own picture of the face track. A family missing here is drawn by
# common.features.pictures.values_picture.
CLIP_PICTURES: Mapping[str, ClipPictureFn] = {
    "flicker": flicker_picture,
    "landmarks": landmarks_picture,
}


def clip_picture_of(name: str) -> ClipPictureFn | None:
    return CLIP_PICTURES.get(name)
