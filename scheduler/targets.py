"""Expand what a user typed into scan targets: files, folders, URLs and list files."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from common.media import IMAGE_SUFFIXES, is_remote

LIST_SUFFIXES = frozenset({".txt", ".list", ".csv", ".jsonl"})
VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".m4v",
        ".mpg",
        ".mpeg",
        ".flv",
        ".wmv",
        ".3gp",
        ".ts",
    }
)


def read_list(path: Path) -> Iterator[tuple[str, str | None]]:
    """(target, label) pairs from a txt (one per line), csv (url|path column) or jsonl list."""
    suffix = path.suffix.lower()
    with path.open(newline="") as fh:
        if suffix == ".csv":
            for row in csv.DictReader(fh):
                target = (row.get("url") or row.get("path") or "").strip()
                if target:
                    yield target, (row.get("label") or "").strip() or None
        elif suffix == ".jsonl":
            for line in fh:
                if line.strip():
                    obj = json.loads(line)
                    yield str(obj.get("url") or obj.get("path")), obj.get("label")
        else:
            for line in fh:
                line = line.strip()
                if line and not line.startswith("#"):
                    yield line, None


def _resolve_relative(target: str, base: Path) -> str:
    if is_remote(target) or Path(target).is_absolute():
        return target
    return str((base / target).resolve())


def expand(raw: str) -> Iterator[str]:
    """One user argument to targets. A folder of videos is many targets; a folder of images
    is one clip (sorted frames); a list file is read line by line."""
    if is_remote(raw):
        yield raw
        return
    path = Path(raw)
    if path.is_dir():
        videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if videos:
            yield from (str(p) for p in videos)
        else:
            yield str(path)
        return
    if path.suffix.lower() in LIST_SUFFIXES and path.is_file():
        for target, _label in read_list(path):
            yield _resolve_relative(target, path.parent)
        return
    yield raw


def is_image(target: str) -> bool:
    return Path(target).suffix.lower() in IMAGE_SUFFIXES
