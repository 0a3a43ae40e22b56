"""Expand what a user typed into scan targets: files, folders, URLs and list files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from common.media import IMAGE_SUFFIXES, is_remote
from scheduler.lists import LIST_SUFFIXES, read_list

log = logging.getLogger(__name__)

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


def _resolve_relative(target: str, base: Path) -> str:
    if is_remote(target) or Path(target).is_absolute():
        return target
    return str((base / target).resolve())


def expand(raw: str) -> Iterator[str]:
    """One user argument to targets. A folder of videos is many targets; a folder of images
    is one clip (sorted frames); a list file is read line by line (scheduler.lists), its
    relative paths taken from the list's folder. ValueError for an unreadable list."""
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
        # A scan has no use for a list's labels (dfscan submit stores them as ground truth).
        for entry in read_list(path):
            if isinstance(entry, ValueError):
                log.warning("%s: skipping an entry: %s", path, entry)
            else:
                yield _resolve_relative(entry.url, path.parent)
        return
    yield raw


def is_image(target: str) -> bool:
    return Path(target).suffix.lower() in IMAGE_SUFFIXES
