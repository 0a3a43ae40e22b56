"""The nuisance control's verdict in words, and its figures as a reader wants them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from common.nuisance import FAMILY, UNITS, WORDS


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def value(v: Any, unit: str) -> str:
    """A nuisance value for the report: pixels whole, bytes per second in kB/s or MB/s."""
    if not _finite(v):
        return "–"
    if unit == "B/s":
        return f"{v / 1e6:.2f} MB/s" if v >= 1e6 else f"{v / 1e3:.0f} kB/s"
    if unit == "B":
        return f"{v / 1e3:.1f} kB"
    if unit == "px":
        return f"{v:.0f} px"
    if unit == "s":
        return f"{v:.1f} s"
    if unit == "fps":
        return f"{v:.1f} fps"
    return f"{v:.2f}"


def _strong(ctl: Mapping[str, Any]) -> str:
    """One sentence per family of separating variables (face size, frame size...), led by
    its strongest measure, with the family's other measures in brackets."""
    variables = ctl["variables"]
    parts, done = [], set()
    for name in ctl["separating"]:
        fam = FAMILY.get(name, name)
        if fam in done:
            continue
        done.add(fam)
        v = variables[name]
        larger = "larger" if v["higher_in"] == "fake" else "smaller"
        others = [
            f"{WORDS.get(k, k)} {o['auc']:.2f}"
            for k, o in variables.items()
            if k != name and FAMILY.get(k, k) == fam and _finite(o.get("auc"))
        ]
        label = WORDS.get(name, name)
        parts.append(
            f"{label[0].upper()}{label[1:]} alone separates real from fake videos at AUC "
            f"{v['auc']:.2f}; it is {larger} in fakes (median "
            f"{value(v['median_fake'], UNITS.get(name, ''))} against "
            f"{value(v['median_real'], UNITS.get(name, ''))} in reals)"
            + (f" [other {fam} measures: {', '.join(others)}]." if others else ".")
        )
    return " ".join(parts)


def _matched(m: Mapping[str, Any], alarm: bool) -> str:
    if not m.get("n_pairs"):
        return (
            f"No real and fake video share a face size and frame resolution ({m['on']}): on "
            f"this set the model's AUC ({m['model_auc']:.2f}) cannot be told apart from these "
            f"two differences."
            if _finite(m.get("model_auc"))
            else "The matched AUC needs real and fake videos with a measured face."
        )
    lo, hi = m.get("ci95") or [None, None]
    ci = f" (95% CI {lo:.2f}-{hi:.2f} by group bootstrap)" if _finite(lo) and _finite(hi) else ""
    text = (
        f"Over the {m['n_pairs']} real-fake pairs matched on {m['on']} "
        f"({m['share_of_pairs']:.0%} of all pairs; {m['n_real_matched']} reals, "
        f"{m['n_fake_matched']} fakes), the model's AUC is {m['auc']:.2f}{ci}, against "
        f"{m['model_auc']:.2f} over all pairs"
    )
    kept = m.get("margin_kept")
    if not _finite(kept):
        return text + "; the model has no margin over chance to keep."
    if kept >= 1:
        text += ": all of its margin over chance stands after matching."
    else:
        text += f": {max(kept, 0):.0%} of its margin over chance stands after matching."
    if alarm and kept < 0.5:
        text += " Most of the model's margin on this set may come from the nuisance, not the face."
    return text


def nuisance_verdict(ctl: Mapping[str, Any]) -> str:
    """Which nuisance separates the classes, how well, and how much of the model survives."""
    clf = ctl["classifier"].get("auc")
    level = ctl["alarm_level"]
    if ctl["alarm"]:
        head = "NUISANCE ALARM. " + _strong(ctl)
        if ctl["separating"]:
            head += f" All nuisance variables together: AUC {clf:.2f} (grouped CV)."
        else:
            head += (
                f" No variable alone reaches the alarm level ({level:.2f}), but together they "
                f"separate the classes at AUC {clf:.2f} (small classifier, grouped CV)."
            )
        head += " An AUC on this set may measure these differences, not the forgery."
    else:
        ranked = [(k, v["auc"]) for k, v in ctl["variables"].items() if _finite(v.get("auc"))]
        if not ranked:
            return "Nuisance control not run: it needs real and fake videos with measures."
        top, top_auc = max(ranked, key=lambda kv: kv[1])
        together = f", all together {clf:.2f}" if _finite(clf) else ""
        head = (
            f"No nuisance separates the classes: the strongest, {WORDS.get(top, top)}, reaches AUC "
            f"{top_auc:.2f}{together} (alarm level {level:.2f})."
        )
    text = f"{head} {_matched(ctl['matched'], ctl['alarm'])}"
    if ctl["n_videos"] < 40 or ctl["n_groups"] < 5:
        text += (
            f" Caution: only {ctl['n_videos']} videos in {ctl['n_groups']} groups, so these "
            f"AUCs are noisy."
        )
    return text
