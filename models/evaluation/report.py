"""``report.md`` of an evaluation, rendered from ``templates/report.md.j2`` (Jinja2)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from common.nuisance import UNITS, WORDS
from models.evaluation.nuisance_text import value

_COLS = (
    ("n_real", "reals", False),
    ("n_fake", "fakes", False),
    ("auc", "AUC", False),
    ("eer", "EER", True),
    ("far", "FAR", True),
    ("frr", "FRR", True),
    ("hter", "HTER", True),
    ("far_at_frr_1pct", "FAR@FRR1%", True),
    ("far_at_frr_5pct", "FAR@FRR5%", True),
)


def fmt(v: Any, pct: bool = False) -> str:
    """A figure for the report: 4 decimals, a percentage, or a dash for a missing value."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{100 * v:.2f}%" if pct else f"{v:.4f}" if isinstance(v, float) else str(v)


def metrics_table(rows: dict[str, dict[str, Any]], first: str) -> str:
    """A Markdown table of metric blocks, one row per block, named in column ``first``."""
    head = f"| {first} | " + " | ".join(c[1] for c in _COLS) + " |"
    lines = [head, "|" + "---|" * (len(_COLS) + 1)]
    for name, b in rows.items():
        lines.append(f"| {name} | " + " | ".join(fmt(b.get(k), pct) for k, _, pct in _COLS) + " |")
    return "\n".join(lines)


def _alarmed(v: Any, level: float) -> str:
    """An AUC, in bold at or over the alarm level."""
    text = fmt(v)
    return f"**{text}**" if isinstance(v, float) and math.isfinite(v) and v >= level else text


def _interval(bounds: list[Any] | None) -> str:
    lo, hi = (bounds or [None, None])[:2]
    return "–" if "–" in (fmt(lo), fmt(hi)) else f"{fmt(lo)}-{fmt(hi)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,  # a misspelt field fails loudly, not as an empty cell
        autoescape=False,  # Markdown, not HTML
    )
    env.filters.update(num=fmt, pct=lambda v: fmt(v, True), code=lambda s: f"`{s}`")
    env.filters.update(nval=value, alarmed=_alarmed, interval=_interval)
    env.globals.update(table=metrics_table, nuisance_words=WORDS, nuisance_units=UNITS)
    return env


def render_report(metrics: dict[str, Any]) -> str:
    """The report's Markdown for the ``metrics`` that ``metrics.json`` holds."""
    template = _environment().get_template("report.md.j2")
    return template.render(
        meta=metrics["meta"],
        video=metrics["video"],
        frame=metrics["frame"],
        control=metrics.get("control") or {},
        nuisance=metrics.get("nuisance") or {},
        per_method=metrics.get("per_method") or {},
        counts=metrics.get("counts") or {},
        errors=metrics.get("errors") or {},
        error_examples=metrics.get("error_examples") or {},
        families_explain=metrics.get("families_explain") or {},
    )


def write_report(metrics: dict[str, Any], path: Path) -> None:
    path.write_text(render_report(metrics))
