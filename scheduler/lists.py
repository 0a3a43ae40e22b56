"""List files of targets, read by one set of rules for ``dfscan scan`` and ``dfscan submit``.

- ``.txt`` / ``.list`` (and ``-``, standard input): one target per line; blank lines and
  lines starting with ``#`` are skipped.
- ``.csv``: a header row with a ``url`` or ``path`` column; optional ``label`` and ``id``.
- ``.jsonl`` / ``.ndjson``: one object per line with ``url`` or ``path``; optional ``label``
  and ``id``.

Labels (ground truth, for ``dfscan report``) are normalised to ``fake`` / ``real``. A list
is used whole or not at all: the first thing wrong with it (bytes that are not UTF-8 text, a
CSV without a target column, a row without a target, an unknown label, a line that is not
JSON) raises :class:`ListError`, which names the file, the line and the reason. Entries are
streamed, so a caller that must not act on a bad list reads it to the end first.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.errors import utf8_safe

LIST_SUFFIXES = frozenset({".txt", ".list", ".csv", ".jsonl", ".ndjson"})
TARGET_KEYS = ("url", "path")
_FAKE = {"fake", "1", "true", "yes", "spoof", "deepfake"}
_REAL = {"real", "0", "false", "no", "bona fide", "bonafide", "genuine"}


class ListError(ValueError):
    """A list that cannot be used: ``file:line: reason`` (``file: reason`` for the whole)."""

    def __init__(self, name: str, line: int | None, reason: str) -> None:
        name = utf8_safe(name)
        super().__init__(f"{name}:{line}: {reason}" if line else f"{name}: {reason}")
        self.name, self.line, self.reason = name, line, reason


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a list: a target (URL or path as written) and what the list says of it."""

    url: str
    label: str | None = None
    external_id: str | None = None
    line: int = field(default=0, compare=False)  # where it stands in its list (1 = first)


def normalize_label(value: object) -> str | None:
    """'fake' / 'real' / None from the spellings lists use; ValueError for anything else."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in _FAKE:
        return "fake"
    if text in _REAL:
        return "real"
    raise ValueError(f"unknown label {value!r} (want fake/real or 1/0)")


def _entry(row: dict[str, object], line: int) -> Entry:
    target = next((row[k] for k in TARGET_KEYS if row.get(k) not in (None, "")), None)
    if not isinstance(target, str) or not target.strip():
        raise ValueError("no url or path in this row")
    ext = row.get("id")
    label = normalize_label(row.get("label"))
    return Entry(target.strip(), label, None if ext in (None, "") else str(ext), line)


def text_lines(fh: IO[bytes], name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of a byte stream that must be UTF-8 text (a BOM is allowed)."""
    for n, raw in enumerate(fh, 1):
        if b"\0" in raw:
            raise ListError(name, n, "binary data (a NUL byte), not a text list")
        try:
            yield n, raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ListError(name, n, f"not UTF-8 text (byte {exc.start + 1} of the line)") from None


def parse_txt(lines: Iterable[tuple[int, str]], name: str) -> Iterator[Entry]:
    for n, line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            yield Entry(line, line=n)


def parse_csv(lines: Iterable[tuple[int, str]], name: str) -> Iterator[Entry]:
    last = [0]  # physical line of the text the reader took last (a quoted field may span)

    def text() -> Iterator[str]:
        for n, line in lines:
            last[0] = n
            yield line

    reader = csv.DictReader(text())
    try:
        if reader.fieldnames is None or not set(TARGET_KEYS) & set(reader.fieldnames):
            raise ListError(name, 1, "a CSV list needs a header row with a 'url' or 'path' column")
        for row in reader:
            yield _entry(row, last[0])
    except ListError:
        raise
    except (ValueError, csv.Error) as exc:
        raise ListError(name, last[0], str(exc)) from None


def parse_jsonl(lines: Iterable[tuple[int, str]], name: str) -> Iterator[Entry]:
    for n, line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            yield _entry(obj, n)
        except ValueError as exc:
            raise ListError(name, n, f"bad JSON line: {exc}") from None


def parse_list(fh: IO[bytes], suffix: str, name: str) -> Iterator[Entry]:
    """Entries of an open (binary) list whose file name ends in ``suffix`` (txt otherwise)."""
    suffix = suffix.lower()
    lines = text_lines(fh, name)
    if suffix == ".csv":
        yield from parse_csv(lines, name)
    elif suffix in (".jsonl", ".ndjson"):
        yield from parse_jsonl(lines, name)
    else:
        yield from parse_txt(lines, name)


def read_list(path: Path) -> Iterator[Entry]:
    """Entries of the list file at ``path``, streamed; ListError at the first bad line."""
    with path.open("rb") as fh:
        yield from parse_list(fh, path.suffix, str(path))
