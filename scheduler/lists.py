"""List files of targets, read by one set of rules for ``dfscan scan`` and ``dfscan submit``.

- ``.txt`` / ``.list`` (and ``-``, standard input): one target per line; blank lines and
  lines starting with ``#`` are skipped.
- ``.csv``: a header row with a ``url`` or ``path`` column; optional ``label`` and ``id``.
- ``.jsonl`` / ``.ndjson``: one object per line with ``url`` or ``path``; optional ``label``
  and ``id``.

Labels (ground truth, for ``dfscan report``) are normalised to ``fake`` / ``real``. A bad row
comes through as a ``ValueError`` in the stream, so a caller can count it and go on; a list
that cannot be read at all (a CSV without a target column) raises.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LIST_SUFFIXES = frozenset({".txt", ".list", ".csv", ".jsonl", ".ndjson"})
TARGET_KEYS = ("url", "path")
_FAKE = {"fake", "1", "true", "yes", "spoof", "deepfake"}
_REAL = {"real", "0", "false", "no", "bona fide", "bonafide", "genuine"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a list: a target (URL or path as written) and what the list says of it."""

    url: str
    label: str | None = None
    external_id: str | None = None


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


def _entry(row: dict[str, object]) -> Entry:
    target = next((row[k] for k in TARGET_KEYS if row.get(k) not in (None, "")), None)
    if not isinstance(target, str) or not target.strip():
        raise ValueError("missing url")
    ext = row.get("id")
    return Entry(
        target.strip(), normalize_label(row.get("label")), None if ext in (None, "") else str(ext)
    )


def parse_txt(lines: Iterable[str]) -> Iterator[Entry]:
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            yield Entry(line)


def parse_csv(lines: Iterable[str]) -> Iterator[Entry | ValueError]:
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or not set(TARGET_KEYS) & set(reader.fieldnames):
        raise ValueError("a CSV list needs a header row with a 'url' or 'path' column")
    for row in reader:
        try:
            yield _entry(row)
        except ValueError as exc:
            yield exc


def parse_jsonl(lines: Iterable[str]) -> Iterator[Entry | ValueError]:
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
            yield _entry(obj)
        except ValueError as exc:
            yield ValueError(f"bad JSON line: {exc}")


def parse_list(fh: IO[str], suffix: str) -> Iterator[Entry | ValueError]:
    """Entries of an open list whose file name ends in ``suffix`` (txt rules otherwise)."""
    suffix = suffix.lower()
    if suffix == ".csv":
        yield from parse_csv(fh)
    elif suffix in (".jsonl", ".ndjson"):
        yield from parse_jsonl(fh)
    else:
        yield from parse_txt(fh)


def read_list(path: Path) -> Iterator[Entry | ValueError]:
    """Entries of the list file at ``path``, streamed."""
    with path.open(encoding="utf-8", newline="") as fh:
        yield from parse_list(fh, path.suffix)
