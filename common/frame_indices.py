"""Which frames to decode: indices spread over a clip, or runs that start at keyframes.

Pure functions of the clip's length and keyframes; common.frames reads the frames they name.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

# "segments": this many runs of consecutive frames, each starting at a keyframe.
SEGMENTS = 4


def sample_indices(total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``total`` frames (all of them if fewer)."""
    if total <= 0 or n <= 0:
        return []
    if total <= n:
        return list(range(total))
    # Centres of n equal segments: avoids the first and last frames (fades, black frames).
    return sorted({int((i + 0.5) * total / n) for i in range(n)})


def segment_indices(total: int, n: int, keyframes: Sequence[int], k: int = SEGMENTS) -> list[int]:
    """``n`` frame indices in up to ``k`` runs of consecutive frames, each run starting at a
    keyframe (display index), the runs' keyframes spread over the clip.

    Decoding a run costs its own pictures only: no reference chain before the first one.
    For each of ``k`` evenly spaced targets the keyframe at or before it is taken (the nearest
    unused one on a tie); with fewer keyframes than ``k`` every keyframe starts a run and the
    runs are longer. Runs never cross the next chosen keyframe or the clip's end; frames a
    run cannot hold go to the others, so ``min(n, total)`` indices come back when possible.
    """
    keys = sorted({int(x) for x in keyframes if 0 <= x < total})
    if total <= 0 or n <= 0:
        return []
    if not keys:
        return sample_indices(total, n)
    k = max(1, min(k, n))
    if len(keys) <= k:
        starts = keys
    else:
        chosen: set[int] = set()
        for j in range(k):
            target = (j + 0.5) * total / k
            at = max(bisect.bisect_right(keys, target) - 1, 0)
            # the keyframe at or before the target, else the nearest unused one
            free = [i for i in range(len(keys)) if keys[i] not in chosen]
            chosen.add(keys[min(free, key=lambda i: (abs(i - at), i))])
        starts = sorted(chosen)
    caps = [(starts[i + 1] if i + 1 < len(starts) else total) - s for i, s in enumerate(starts)]
    lengths = [0] * len(starts)
    left = min(n, total)
    while left > 0:  # round robin over the runs that still have room
        grew = False
        for i in range(len(starts)):
            if left and lengths[i] < caps[i]:
                lengths[i] += 1
                left -= 1
                grew = True
        if not grew:
            break
    return [s + j for s, m in zip(starts, lengths, strict=True) for j in range(m)]
