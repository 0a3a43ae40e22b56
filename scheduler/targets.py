"""Expand what a user typed into scan targets: files, folders, URLs and list files.

- A folder is searched recursively (sorted, symlinks followed, each folder once): every
  video in it is a target; a folder holding image frames and no video is one clip (its
  sorted frames); a folder with neither, when it is what was typed, is a target of its own
  (refused at scan time: ``empty_folder``).
- A list file (``scheduler.lists``) is expanded entry by entry as if each were typed,
  relative paths taken from the list's folder.
- Whatever goes wrong while expanding one argument or entry (a symlink loop, a folder that
  cannot be listed or vanished meanwhile, a list that names itself) becomes one
  :class:`Refused` target carrying its error code, and the rest goes on. Only a list that is
  not a usable list (:class:`scheduler.lists.ListError`) stops the command: a usage error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from common.errors import (
    ScanError,
    Unreadable,
    from_os_error,
    internal_error,
    utf8_safe,
)
from common.media import IMAGE_SUFFIXES, is_remote
from common.types import ScanResult
from scheduler.lists import LIST_SUFFIXES, ListError, read_list

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


@dataclass(frozen=True, slots=True)
class Refused:
    """A target that could not even be expanded: recorded with its error, never scanned."""

    target: str
    code: str
    message: str

    @classmethod
    def of(cls, target: str, error: ScanError) -> Refused:
        return cls(utf8_safe(target), error.code, error.message)

    def result(self, model_version: str) -> ScanResult:
        """Its scan result: the error it was refused with."""
        error = {"code": self.code, "message": self.message}
        return ScanResult(target=self.target, model_version=model_version, error=error)


Target = str | Refused


def expand(raw: str) -> list[Target]:
    """One user argument to targets (see the module docstring). ListError for a bad list."""
    return _expand(raw, ())


def expand_all(raws: list[str] | tuple[str, ...]) -> list[Target]:
    return [t for raw in raws for t in expand(raw)]


def _expand(raw: str, reading: tuple[str, ...]) -> list[Target]:
    """``reading``: real paths of the lists being expanded, outermost first (cycles)."""
    out: list[Target] = []
    try:
        if is_remote(raw):
            return [raw]
        path = Path(raw)
        if path.is_dir():
            _walk(path, out)
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            _expand_list(path, reading, out)
        else:
            out.append(raw)
    except ListError:
        raise
    except ScanError as exc:
        out.append(Refused.of(raw, exc))
    except OSError as exc:  # e.g. the folder vanished or its permissions changed meanwhile
        out.append(Refused.of(raw, from_os_error(utf8_safe(raw), exc)))
    except Exception as exc:  # whatever else: this argument's error, not the run's
        log.exception("unexpected failure expanding %s", utf8_safe(raw))
        out.append(Refused.of(raw, internal_error(exc)))
    return out


def _expand_list(path: Path, reading: tuple[str, ...], out: list[Target]) -> None:
    real = os.path.realpath(path)
    if real in reading:
        raise Unreadable(
            f"{utf8_safe(str(path))} names a list that is already being read (itself, or a "
            "list that names it): not read again"
        )
    # The whole list first: a bad line is a usage error before any of it is scanned.
    entries = list(read_list(path))
    base = path.parent
    for entry in entries:  # A scan has no use for labels (dfscan submit stores them).
        target = entry.url
        if not is_remote(target) and not os.path.isabs(target):
            target = os.path.realpath(base / target)
        out.extend(_expand(target, (*reading, real)))


def _walk(top: Path, out: list[Target]) -> None:
    """Every video below ``top``; each folder of frames without videos as one clip."""
    seen: set[tuple[int, int]] = set()
    start = len(out)

    def visit(folder: Path) -> None:
        st = folder.stat()
        if (st.st_dev, st.st_ino) in seen:  # a symlink back up the tree
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        videos, frames, subfolders = [], False, []
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:  # a symlink loop, say: scanned as a file, refused with its reason
                is_dir = False
            suffix = os.path.splitext(entry.name)[1].lower()
            if is_dir:
                subfolders.append(Path(entry.path))
            elif suffix in VIDEO_SUFFIXES:
                videos.append(entry.path)
            elif suffix in IMAGE_SUFFIXES:
                frames = True
        out.extend(videos)
        if frames and not videos:
            out.append(str(folder))
        for sub in subfolders:
            try:
                visit(sub)
            except OSError as exc:  # this subfolder's error; its siblings go on
                out.append(Refused.of(str(sub), from_os_error(utf8_safe(str(sub)), exc)))

    visit(top)
    if len(out) == start:
        out.append(str(top))  # nothing to scan in it: refused with its own code at scan time
