"""The numbers and the Markdown of docs/generalize.md's results (``research.generalize``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from common.nuisance import Nuisance
from models.evaluation import nuisance_control, nuisance_table
from models.manifest import Item
from research import lodo
from research.shared_data import TEST_SOURCES

MARKER = "<!-- Everything below is written by `python -m research.generalize`. -->"
NAMES = {"ffpp-c23": "FF++ c23", "ffpp-c40": "FF++ c40", "celebdf": "Celeb-DF", "dft": "DFT val"}


@dataclass
class Results:
    data: dict[str, Any]
    lines: list[str]

    def markdown(self, existing: str) -> str:
        """The existing document above the marker (the rule), then the fresh results."""
        head = existing.split(MARKER, 1)[0].rstrip()
        return "\n".join([head, "", MARKER, "", *self.lines]) + "\n"


def _pct(v: float) -> str:
    return "-" if v != v else f"{100 * v:.0f}%"


def _operating(r: dict[str, float]) -> str:
    at5, at1 = _pct(r["far_frr5"]), _pct(r["far_frr1"])
    return f"{at5}/{at1}, {_pct(r['far_thr'])}/{_pct(r['frr_thr'])}"


def _ci(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def _nuisance(
    items: Sequence[Item],
    scored: dict[str, lodo.Scored],
    nuisance: dict[str, Nuisance | None],
) -> dict[str, dict[str, Any]]:
    """Per source: the nuisance control with each candidate's matched AUC."""
    out: dict[str, dict[str, Any]] = {}
    for src in TEST_SOURCES:
        its = [it for it in lodo.test_items(items, src) if it.target in scored["today"].scores]
        table = nuisance_table([nuisance.get(it.target) for it in its])
        y, groups = [it.y for it in its], [it.group for it in its]
        per: dict[str, Any] = {}
        for name, sc in scored.items():
            if not all(it.target in sc.scores for it in its):
                continue
            ctl = nuisance_control(table, y, groups, [sc.scores[it.target] for it in its])
            per[name] = ctl
        first = per["today"]
        best = max(first["variables"].items(), key=lambda kv: kv[1]["auc"] or 0)
        out[src] = {
            "alarm": first["alarm"],
            "strongest": best[0],
            "strongest_auc": best[1]["auc"],
            "classifier_auc": first["classifier"]["auc"],
            "verdict": first["verdict"],
            "matched": {n: c["matched"] for n, c in per.items()},
        }
    return out


def render(
    items: Sequence[Item],
    scored: dict[str, lodo.Scored],
    info: dict[str, dict[str, Any]],
    nuisance: dict[str, Nuisance | None],
    boot: int,
    seconds: float,
) -> Results:
    vs = lodo.views(items, scored["today"])
    samples = lodo.bootstrap_means(vs, scored, n=boot)
    data: dict[str, Any] = {"candidates": {}, "bootstrap": boot}
    for name, sc in scored.items():
        rows = {src: lodo.source_row(vs[src], sc) for src in TEST_SOURCES}
        frr, n_heads = lodo.head_frr(items, sc)
        mean = float(np.mean([rows[s]["auc"] for s in TEST_SOURCES]))
        diff = samples[name] - samples["today"]
        data["candidates"][name] = {
            **info[name],
            "sources": rows,
            "mean_auc": mean,
            "mean_ci": _ci(samples[name]),
            "diff_today": float(np.mean(diff)),
            "diff_ci": _ci(diff),
            "mean3_auc": float(np.mean([rows[s]["auc"] for s in TEST_SOURCES[:3]])),
            "pooled_auc": lodo.pooled_auc(items, sc, TEST_SOURCES),
            "pooled3_auc": lodo.pooled_auc(items, sc, TEST_SOURCES[:3]),
            "heads_frr": frr,
            "heads_n": n_heads,
            "methods": {src: lodo.method_aucs(items, vs[src], sc) for src in TEST_SOURCES},
            "params": sc.params,
        }
        base = info[name].get("against")
        if base in samples:  # the baseline of the candidate's own rule (docs/speed.md)
            against = samples[name] - samples[base]
            data["candidates"][name]["diff_against"] = float(np.mean(against))
            data["candidates"][name]["diff_against_ci"] = _ci(against)
    data["method_counts"] = _method_counts(items, vs)
    data["nuisance"] = _nuisance(items, scored, nuisance)
    return Results(data, _lines(data, seconds))


def _method_counts(items: Sequence[Item], vs: dict[str, lodo.SourceView]) -> dict[str, int]:
    """Fakes per (source, method), keyed as the methods table's columns."""
    return {
        f"{src}|{m}": len(fakes)
        for src, v in vs.items()
        for m, fakes in lodo.fakes_by_method(items, v).items()
    }


def _method_lines(c: dict[str, dict[str, Any]], counts: dict[str, int]) -> list[str]:
    """Per-method AUC (reported, not chosen on): each method's fakes against the source's reals."""
    cols = [(s, m) for s in TEST_SOURCES for m in next(iter(c.values()))["methods"][s]]
    if not cols:
        return []
    head = [f"{NAMES[s]} {m} ({counts.get(f'{s}|{m}', 0)})" for s, m in cols]
    out = [
        "",
        "### Per manipulation method",
        "",
        "AUC of each method's fakes (their count in brackets) against all of that source's "
        "reals; reported, not chosen on. Sources with a single method are left out.",
        "",
        "| candidate | " + " | ".join(head) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    for name, v in c.items():
        out.append(f"| {name} | " + " | ".join(f"{v['methods'][s][m]:.2f}" for s, m in cols) + " |")
    return out


def _simplicity(v: dict[str, Any]) -> tuple[bool, int, int, int]:
    """The rule's order of simplicity: no real deepfakes, fewer families, fewer frames, mean
    pooling (before the video vector or the top quarter)."""
    pooled = 0 if v.get("pooling") == "mean" else 1
    return (bool(v.get("real_fakes")), len(v.get("families", ())), int(v.get("frames", 16)), pooled)


def _choice(c: dict[str, dict[str, Any]]) -> list[str]:
    """The selection rule applied to the table (the speed constraint is checked apart)."""
    ok = {n: v for n, v in c.items() if n != "today" and v["heads_frr"] <= 0.02}
    if not ok:
        return ["", "**Choice by the rule:** no candidate meets the FRR constraint."]
    best = max(ok, key=lambda n: ok[n]["mean_auc"])
    near = [n for n in ok if ok[n]["mean_auc"] >= ok[best]["mean_auc"] - 0.01]
    pick = min(near, key=lambda n: (_simplicity(ok[n]), -ok[n]["mean_auc"]))
    lo = ok[pick]["diff_ci"][0]
    verdict = "replaces" if lo > 0 else "does not replace"
    return [
        "",
        f"**Choice by the rule** (before the speed constraint): highest mean **{best}** "
        f"({ok[best]['mean_auc']:.3f}); simplest within 0.01 of it: **{pick}** "
        f"({ok[pick]['mean_auc']:.3f}); its paired difference to today's model has a 95% lower "
        f"bound of {lo:+.3f}, so it {verdict} today's default.",
    ]


def _lines(data: dict[str, Any], seconds: float) -> list[str]:
    c = data["candidates"]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "## Results",
        "",
        f"Written {when} by `python -m research.generalize` ({seconds / 60:.0f} min). AUC of "
        "each source's fakes against its own reals, each source scored by a model trained "
        "without it; mean over the four sources with its 95% interval "
        f"({data['bootstrap']} bootstrap resamples of identity groups), and the paired "
        "difference to today's model. Pooled: all held-out fakes against all held-out reals "
        "and talking heads (scores of different fold models pooled), with and without "
        "DeepfakeTIMIT. Heads FRR: dev talking heads held out by source, each at its own "
        "model's threshold.",
        "",
        "| candidate | "
        + " | ".join(NAMES[s] for s in TEST_SOURCES)
        + " | mean [95%] | vs today [95%] | mean w/o DFT | pooled | pooled w/o DFT | heads FRR |",
        "|---" * (len(TEST_SOURCES) + 7) + "|",
    ]
    for name, v in c.items():
        cells = [f"{v['sources'][s]['auc']:.3f}" for s in TEST_SOURCES]
        lo, hi = v["mean_ci"]
        dlo, dhi = v["diff_ci"]
        diff = "-" if name == "today" else f"{v['diff_today']:+.3f} [{dlo:+.3f}, {dhi:+.3f}]"
        out.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {v['mean_auc']:.3f} [{lo:.3f}, {hi:.3f}] | {diff} | {v['mean3_auc']:.3f}"
            + f" | {v['pooled_auc']:.3f} | {v['pooled3_auc']:.3f}"
            + f" | {_pct(v['heads_frr'])} of {v['heads_n']} |"
        )
    out += _choice(c)
    paired = [(n, v) for n, v in c.items() if "diff_against" in v]
    if paired:
        out += ["", "Paired differences against each candidate's own baseline:", ""]
        for n, v in paired:
            lo, hi = v["diff_against_ci"]
            out.append(
                f"- **{n}** vs {v['against']}: {v['diff_against']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            )
    out += ["", "Candidates:", ""]
    out += [f"- **{n}**: {v.get('note', 'as shipped')}" for n, v in c.items()]
    out += [
        "",
        "### Operating points per source",
        "",
        "FAR at FRR 5% and 1% (the source's own reals), and FAR / FRR at the fold model's "
        "threshold (set on its training data: FRR <= 1% per source of reals).",
        "",
        "| candidate | "
        + " | ".join(f"{NAMES[s]} FAR@5/@1, thr FAR/FRR" for s in TEST_SOURCES)
        + " |",
        "|---" * (len(TEST_SOURCES) + 1) + "|",
    ]
    for name, v in c.items():
        cells = [_operating(v["sources"][s]) for s in TEST_SOURCES]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += _method_lines(c, data["method_counts"])
    out += [
        "",
        "### Nuisance control of each test source",
        "",
        "Strongest nuisance variable alone (direction-free AUC) and a small grouped-CV "
        "classifier on all of them (`models.evaluation.nuisance_control`); then each "
        "candidate's AUC over real-fake pairs matched on face size and resolution.",
        "",
        "| source | strongest alone | all together | confounded | "
        + " | ".join(f"matched {n}" for n in c)
        + " |",
        "|---" * (4 + len(c)) + "|",
    ]
    for src, v in data["nuisance"].items():
        matched = []
        for n in c:
            m = v["matched"].get(n) or {}
            matched.append("-" if m.get("auc") is None else f"{m['auc']:.2f}")
        out.append(
            f"| {NAMES[src]} | {v['strongest']} {v['strongest_auc']:.2f} | "
            f"{(v['classifier_auc'] or float('nan')):.2f} | {'yes' if v['alarm'] else 'no'} | "
            + " | ".join(matched)
            + " |"
        )
    return out
