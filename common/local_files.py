"""Local files and folders as scan targets, checked before any decoder opens them.

- A path is looked at once (``stat``, following symlinks): missing is ``not_found``; a
  symlink loop or a permission refused is ``unreadable``, with the reason.
- Only regular files and folders are read. A FIFO would block the reader forever and a
  device never ends: ``blocked_path``.
- A name that is not valid UTF-8 (bytes a Linux file system allows) reaches the decoders
  through an ASCII-named symlink: OpenCV's ``VideoCapture`` kills the process on such a name.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from common.errors import Blocked, EmptyInput, TooLarge, from_os_error, utf8_safe
from common.settings import Settings

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

MediaKind = Literal["video", "image", "frames"]


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """Media on the local disk, ready for the frame sampler."""

    path: Path
    kind: MediaKind
    sha256: str | None = None


def classify_path(path: Path) -> MediaKind:
    if path.is_dir():
        return "frames"
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    return "video"


def check_local(path: Path, settings: Settings) -> LocalMedia:
    """What ``path`` is, if it may be read: raises an InputError with its code if not."""
    shown = utf8_safe(str(path))
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            os.scandir(path).close()  # a folder that cannot be listed fails here, not later
            return LocalMedia(path=path, kind="frames")
        if not stat.S_ISREG(st.st_mode):
            raise Blocked(
                f"not a regular file (a FIFO, device or socket): {shown}", code="blocked_path"
            )
        if st.st_size == 0:
            raise EmptyInput(f"zero-byte file: {shown}")
        if st.st_size > settings.max_bytes:
            raise TooLarge(f"{shown} is {st.st_size} bytes, over the limit of {settings.max_bytes}")
        with path.open("rb"):  # read permission, checked as the readers will need it
            pass
    except OSError as exc:
        raise from_os_error(shown, exc) from exc
    return LocalMedia(path=path, kind=classify_path(path))


@contextmanager
def local_media(path: Path, settings: Settings) -> Iterator[LocalMedia]:
    """The checked media at ``path``, under an ASCII-named alias if its name is not UTF-8."""
    media = check_local(path, settings)
    if utf8_safe(str(path)) == str(path):
        yield media
        return
    tmpdir = Path(tempfile.mkdtemp(prefix="dfscan-"))
    try:
        alias = tmpdir / utf8_safe(path.name)  # the stray bytes as \xNN: messages still tell
        alias.symlink_to(path.absolute())
        yield LocalMedia(path=alias, kind=media.kind, sha256=media.sha256)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
