"""Width and height of an image file from its header, before any decoder allocates pixels.

A 1 MB PNG can declare 30000x30000 pixels; decoding it to learn that takes ~10 s and 900 MB
(2.7 GB in colour). Pillow's ``Image.open`` reads only the header (and, for WebP and AVIF,
parses the container) without decoding, for the formats OpenCV's ``imdecode`` reads:
:data:`OPENCV_FORMATS`. Radiance HDR and colour PFM, which it does not know, are read here. Anything
else is not sized, and so never handed to a decoder (``OpenEXR`` is off in OpenCV's wheels).
"""

from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path

# Pillow's names for what cv2.imdecode reads (its build: JPEG, WebP, AVIF, PNG, TIFF, JPEG
# 2000, GIF, Sun raster, PxM/PFM, BMP). Naming them keeps Pillow from trying other plugins.
OPENCV_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "JPEG2000", "AVIF", "PPM")
OPENCV_FORMATS += ("SUN",)
HEAD_BYTES = 64 * 1024  # a Radiance header is a few lines of text
_HDR_SIZE = re.compile(rb"\n([-+])([XY]) (\d+) ([-+])([XY]) (\d+)\n")
_PFM_SIZE = re.compile(rb"P[Ff]\s+(\d+)\s+(\d+)\s")


def preload() -> None:
    """Import Pillow's plugins now (~0.1 s once per process), so that start-up pays it rather
    than the first target sized."""
    from PIL import Image

    Image.init()


class BombError(ValueError):
    """The header declares more pixels than Pillow will even describe (~179 million)."""


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as the file's header declares them; None if no format here knows it.

    Raises :class:`BombError` for a header past Pillow's own bomb limit, and OSError when
    the file cannot be read at all.
    """
    from PIL import Image

    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        size = _radiance_size(head) or _pfm_size(head)
        if size is not None:
            return size
        fh.seek(0)
        try:
            with warnings.catch_warnings():
                # Between Pillow's two bomb limits it only warns: the caller's limit decides.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(fh, formats=OPENCV_FORMATS) as im:
                    return im.size
        except Image.DecompressionBombError as exc:
            raise BombError(str(exc)) from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error):
            # Not a format we size (UnidentifiedImageError is an OSError), or a header too
            # broken to size: the file was read, so this is no I/O trouble.
            return None


def _radiance_size(head: bytes) -> tuple[int, int] | None:
    """Radiance HDR (``#?RADIANCE``): the resolution line after the blank line ending the
    header, e.g. ``-Y 480 +X 640`` (rows first, the usual order) or ``+X 640 -Y 480``."""
    if not head.startswith((b"#?RADIANCE", b"#?RGBE")):
        return None
    end = head.find(b"\n\n")
    m = _HDR_SIZE.match(head, end + 1) if end >= 0 else None
    if m is None:
        return None
    first, second = (m.group(2), int(m.group(3))), (m.group(5), int(m.group(6)))
    dims = dict([first, second])
    if set(dims) != {b"X", b"Y"}:
        return None
    return dims[b"X"], dims[b"Y"]


def _pfm_size(head: bytes) -> tuple[int, int] | None:
    """Portable float map (``PF`` colour, ``Pf`` grey): width and height after the magic."""
    m = _PFM_SIZE.match(head)
    return None if m is None else (int(m.group(1)), int(m.group(2)))
