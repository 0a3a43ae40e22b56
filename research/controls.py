"""The nuisance control for research scripts that choose a model (regimes, crop_jitter).

A model chosen by its AUC on a set whose reals and fakes differ in face size, frame size or
length may have been chosen for reading that difference. These helpers run
:func:`models.evaluation.nuisance.nuisance_control` on a script's scored videos and put its
figures in the script's Markdown: the model's AUC over pairs matched on face size and
resolution beside its AUC over all pairs, and one line per set saying whether it is
confounded (and by what).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.nuisance import FAMILY, Nuisance
from models.evaluation.nuisance import nuisance_control, nuisance_table
from models.manifest import Item


def control(
    items: Sequence[Item], records: Sequence[Nuisance | None], scores: Sequence[float]
) -> dict[str, Any]:
    """The nuisance control of one model's scores on one set (NaN scores left out)."""
    s = np.asarray(scores, float)
    keep = np.isfinite(s)
    kept = [it for it, k in zip(items, keep, strict=True) if k]
    table = nuisance_table([r for r, k in zip(records, keep, strict=True) if k])
    return nuisance_control(
        table,
        [it.y for it in kept],
        [it.group or it.target for it in kept],
        s[keep],
        methods=[it.method or "-" for it in kept],
    )


def matched_cell(ctl: dict[str, Any]) -> str:
    """'0.667 (18 pairs)': the model's AUC over matched pairs, for a table cell."""
    m = ctl["matched"]
    if not m.get("n_pairs"):
        return "- (no pairs)"
    return f"{m['auc']:.3f} ({m['n_pairs']} pairs)"


def confound_line(set_name: str, ctl: dict[str, Any]) -> str:
    """One Markdown line: is the set confounded, by which kinds of nuisance, how strongly."""
    level = ctl["alarm_level"]
    clf = ctl["classifier"].get("auc")
    together = f"{clf:.2f}" if isinstance(clf, float) and math.isfinite(clf) else "-"
    if not ctl["alarm"]:
        return (
            f"- **{set_name}**: no nuisance at or over AUC {level:.2f} (all together {together})."
        )
    best: dict[str, tuple[str, float]] = {}
    for name in ctl["separating"]:
        fam = FAMILY.get(name, name)
        best.setdefault(fam, (name, ctl["variables"][name]["auc"]))
    kinds = ", ".join(f"{fam} ({name} {a:.2f})" for fam, (name, a) in best.items())
    return (
        f"- **{set_name}**: CONFOUNDED. Alone, {kinds or 'no single variable'} separate its "
        f"reals from its fakes (all together {together}); judge models on it by the matched "
        f"AUC, and on other sets."
    )
