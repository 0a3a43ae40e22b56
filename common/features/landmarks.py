"""Landmark-motion family: the face's parts against its rigid head motion and against each other.

A swap replaces the inner face (eyes, nose, mouth) frame by frame and pastes it where the
target's face is, so the inner parts jitter against the jaw line and against the head's
rigid motion more than a filmed face does, and the pose of the inner face can disagree with
the pose of its contour. Sun et al., "Improving the efficiency and robustness of deepfakes
detection through precise geometric features" (LRNet), CVPR 2021, read landmark trajectories;
Yang, Li & Lyu, "Exposing deep fakes using inconsistent head poses", ICASSP 2019, compare the
pose of the central face with the whole face's. Geometry survives heavy compression, which
wipes out pixel-level cues.

Landmarks are dlib's 68 points in crop coordinates; lengths are in inter-ocular distances
(IOD) of the clip's mean shape. Columns (zeros where there are no landmarks):
- ``accel_jaw``, ``accel_brows``, ``accel_nose``, ``accel_eyes``, ``accel_mouth``: log mean
  |second difference| of each part's points over three consecutive frames, after every
  frame is aligned to the clip's mean shape by a similarity on all 68 points (rigid head
  motion removed; smooth motion has a small second difference);
- ``accel_inner_vs_jaw``: log ratio of the inner parts' (nose, eyes) acceleration to the jaw's;
- ``pose_rot``, ``pose_scale``, ``pose_shift``: mean |difference| between the similarity that
  maps the inner face (nose, eyes) onto the mean shape and the one that maps the jaw line:
  rotation (radians), log scale, and where the inner centroid lands (IOD);
- ``pose_rot_sd``, ``pose_scale_sd``, ``pose_shift_sd``: the same differences' spread over the
  clip's frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from common.types import FaceTrack

PARTS = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}
INNER = PARTS["nose"] + PARTS["eyes"]
COLUMNS = (
    *(f"accel_{p}" for p in PARTS),
    "accel_inner_vs_jaw",
    "pose_rot",
    "pose_scale",
    "pose_shift",
    "pose_rot_sd",
    "pose_scale_sd",
    "pose_shift_sd",
)
LENGTH = len(COLUMNS)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32))
    return m


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def consecutive_triples(frame_index: np.ndarray) -> list[int]:
    """Positions t where frames t, t+1, t+2 are three consecutive frames of the video."""
    f = frame_index
    return [t for t in range(len(f) - 2) if f[t + 1] - f[t] == 1 and f[t + 2] - f[t + 1] == 1]


def _acceleration(aligned: np.ndarray, triples: list[int], iod: float) -> np.ndarray:
    """(6,) log mean second difference per part, and inner vs jaw."""
    acc = (
        np.array(
            [
                [
                    np.linalg.norm(
                        (aligned[t] - 2 * aligned[t + 1] + aligned[t + 2])[list(idx)], axis=1
                    ).mean()
                    for idx in PARTS.values()
                ]
                for t in triples
            ]
        ).mean(axis=0)
        / iod
    )
    inner = 0.5 * (acc[2] + acc[3])
    return np.array([*np.log(acc + 1e-4), np.log((inner + 1e-6) / (acc[0] + 1e-6))])


def _pose_gap(lm: np.ndarray, ref: np.ndarray, iod: float) -> tuple[float, float, float] | None:
    """Rotation, log scale and landing-point differences of the inner and jaw similarities."""
    mi = _similarity(lm[list(INNER)], ref[list(INNER)])
    mo = _similarity(lm[list(PARTS["jaw"])], ref[list(PARTS["jaw"])])
    if mi is None or mo is None:
        return None
    rot = np.arctan2(mi[1, 0], mi[0, 0]) - np.arctan2(mo[1, 0], mo[0, 0])
    scale = np.log(np.hypot(mi[0, 0], mi[1, 0]) / max(np.hypot(mo[0, 0], mo[1, 0]), 1e-9))
    c = lm[list(INNER)].mean(axis=0)
    shift = np.linalg.norm(_apply(mi, c) - _apply(mo, c)) / iod
    return float(rot), float(scale), float(shift)


def landmark_features(track: FaceTrack) -> np.ndarray:
    """(12,) float32 clip vector, columns as in ``COLUMNS``."""
    out = np.zeros(LENGTH, np.float32)
    ok = ~np.isnan(track.landmarks).any(axis=(1, 2))
    lms, fidx = track.landmarks[ok].astype(np.float64), track.frame_index[ok]
    if not len(lms):
        return out
    ref = lms.mean(axis=0)
    iod = float(np.linalg.norm(ref[36:42].mean(0) - ref[42:48].mean(0))) + 1e-6
    aligned = np.array([lm if (m := _similarity(lm, ref)) is None else _apply(m, lm) for lm in lms])
    triples = consecutive_triples(fidx)
    if triples:
        out[:6] = _acceleration(aligned, triples, iod)
    gaps = [g for lm in lms if (g := _pose_gap(lm, ref, iod)) is not None]
    if gaps:
        g = np.array(gaps)
        out[6:9] = np.abs(g).mean(axis=0)
        out[9:12] = g.std(axis=0)
    return out
