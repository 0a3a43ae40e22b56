"""Static HTML pages from Jinja2 templates (``templates/``), autoescaped.

Targets, URLs, names and error messages on a page are untrusted text (a batch list can hold
anything): every value is escaped by Jinja2's autoescaping, never concatenated into HTML by
hand. Pages carry their numbers also as JSON beside them; every number shown is marked with
``data-key``, its path in that JSON, so a check can compare the two.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).with_name("templates")


def num(value: Any, digits: int = 3) -> str:
    """A number as the page shows it: fixed decimals, or a dash for a missing value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def sig(value: Any, digits: int = 3) -> str:
    """A measure as the page shows it: ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def slug(name: str) -> str:
    """A file-name-safe form of a family name or id."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every page is HTML: escape every value
        undefined=StrictUndefined,  # a misspelt field fails loudly, not as an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, sig=sig, pct=pct, slug=slug)
    return env


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None (JSON has no NaN) and tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_page(
    out: Path, template: str, data: dict[str, Any], json_name: str, **extra: Any
) -> Path:
    """Render ``template`` with ``data`` (also written as ``json_name``) into out/index.html."""
    out.mkdir(parents=True, exist_ok=True)
    data = json_safe(data)
    (out / json_name).write_text(json.dumps(data, indent=2) + "\n")
    html = environment().get_template(template).render(data=data, json_name=json_name, **extra)
    page = out / "index.html"
    page.write_text(html)
    return page
