"""Name the differences between a video and a real reference (``dfscan explain --against``).

Two kinds of difference, both per family:

- a named measure of the family's picture (positive magnitudes, e.g. "boundary residual"),
  as the ratio of its mean over the frames: "boundary residual 2.3x the real's";
- the whole family, as the distance between the two videos' model inputs in training
  standard deviations (root mean square over the family's columns of the video vector),
  which also covers families with no picture of their own and clip-level ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from models.explain.analysis import Explanation

# A ratio beyond these is named in the summary; every ratio is in the table.
NOTABLE_RATIO = 1.25
NOTABLE_SDS = 1.0


@dataclass(frozen=True, slots=True)
class Difference:
    family: str
    measure: str  # a named measure, or "" for the whole family
    value: float  # the video's (mean over frames, or distance in SDs for a family)
    reference: float  # the real's mean (0 for a family distance)
    ratio: float | None  # value / reference for a measure; None for a family distance
    notable: bool
    text: str

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _times(ratio: float) -> str:
    return f"{ratio:.2g}×" if ratio < 10 else f"{ratio:.0f}×"


def measure_differences(video: Explanation, real: Explanation) -> list[Difference]:
    out = []
    for view in video.families:
        other = real.family(view.name)
        if other is None:
            continue
        for name, values in view.measures.items():
            if name not in other.measures:
                continue
            a, b = float(values.mean()), float(other.measures[name].mean())
            if a <= 0 or b <= 0:  # a ratio of a vanished measure says nothing readable
                text = f"{name} {a:.3g} (the real's {b:.3g})"
                out.append(Difference(view.name, name, a, b, None, a != b, text))
                continue
            ratio = a / b
            notable = ratio >= NOTABLE_RATIO or ratio <= 1 / NOTABLE_RATIO
            text = f"{name} {_times(ratio)} the real's"
            out.append(Difference(view.name, name, a, b, ratio, notable, text))
    return sorted(out, key=_strength)


def _strength(d: Difference) -> float:
    """Sort key, largest difference first; a measure that vanished in one video leads."""
    if d.ratio is None:
        return -np.inf if d.notable else np.inf
    return -abs(float(np.log(d.ratio)))


def family_distances(video: Explanation, real: Explanation) -> list[Difference]:
    """Per family of the model, how far apart the two videos' inputs lie, in training SDs."""
    if video.vector is None or real.vector is None or video.scale is None:
        return []
    out = []
    for name, cols in video.layout.items():
        if name not in real.layout or real.layout[name] != cols:
            continue
        z = (video.vector[cols] - real.vector[cols]) / video.scale[cols]
        sds = float(np.sqrt((z**2).mean()))
        text = f"{sds:.2g} training SDs from the real's"
        out.append(Difference(name, "", sds, 0.0, None, sds >= NOTABLE_SDS, text))
    return sorted(out, key=lambda d: -d.value)


def differences(video: Explanation, real: Explanation) -> list[Difference]:
    """Every difference, the named measures first (largest ratio first), then families."""
    return measure_differences(video, real) + family_distances(video, real)
