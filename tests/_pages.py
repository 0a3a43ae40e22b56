"""Checks shared by the page tests: the images a page links, and its numbers against its JSON.

Every number a page shows sits in an element with ``data-key``, the number's path in the
JSON written beside the page (``models.pages.html``).
"""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[str] = []
        self.links: list[str] = []
        self.numbers: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "a":
            self.links.append(a.get("href") or "")
        if "data-key" in a:
            self._open.append((a["data-key"] or "", []))

    def handle_data(self, data: str) -> None:
        for _, parts in self._open:
            parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag in ("td", "span"):
            key, parts = self._open.pop()
            self.numbers.append((key, "".join(parts).strip()))


def parse(page: Path) -> _Collect:
    c = _Collect()
    c.feed(page.read_text())
    return c


def lookup(data: Any, key: str) -> Any:
    for part in key.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def assert_images_exist(page: Path, at_least: int) -> list[Path]:
    """Every <img> of the page is a PNG file beside it; returns them."""
    srcs = parse(page).images
    assert len(srcs) >= at_least, srcs
    files = [page.parent / s for s in srcs]
    for f in files:
        assert f.is_file(), f
        assert f.read_bytes()[:8] == PNG_MAGIC, f
        assert f.stat().st_size > 500, f
    return files


def _half_unit(text: str) -> float:
    """Half a unit of the last digit shown: the most that rounding for display can move."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals) * (1 + 1e-9)


def assert_numbers_match(page: Path, json_path: Path, at_least: int) -> int:
    """Every number shown equals the JSON's at the precision shown; returns how many."""
    data = json.loads(json_path.read_text())
    numbers = parse(page).numbers
    assert len(numbers) >= at_least, numbers
    for key, text in numbers:
        want = lookup(data, key)
        if want is None:
            assert text == "–", (key, text)
            continue
        assert isinstance(want, int | float) and not isinstance(want, bool), (key, want)
        if isinstance(want, int):
            assert text == str(want), (key, text, want)
            continue
        assert math.isclose(float(text), want, abs_tol=_half_unit(text)), (key, text, want)
    return len(numbers)
