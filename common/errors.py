"""Scan errors with stable codes, split into permanent (record once) and retryable."""

from __future__ import annotations

import errno


def utf8_safe(text: str) -> str:
    """``text`` with the undecodable bytes of a file name (Python keeps them as lone
    surrogates) written as ``\\xNN``: valid UTF-8 for the database, JSON and a terminal."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that is no escaped byte (e.g. from JSON)
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class ScanError(Exception):
    """A scan failed for a reason worth recording with a stable ``code``.

    ``retryable`` errors (network, database) may succeed on another attempt; permanent ones
    (unreadable video, no face) are recorded once and never retried.
    """

    code = "scan_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        message = utf8_safe(message)  # it is stored and printed: no stray bytes of a path
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InputError(ScanError):
    """The input itself is bad: permanent."""

    code = "bad_input"


class NotFound(InputError):
    code = "not_found"


class EmptyInput(InputError):
    code = "empty_file"


class TooLarge(InputError):
    code = "too_large"


class Unreadable(InputError):
    """Not a video or image we can decode (corrupt, truncated, wrong format)."""

    code = "unreadable"


class NoFace(InputError):
    code = "no_face"


class Blocked(InputError):
    """Refused by fetch policy (private address, scheme not allowed, not a regular file)."""

    code = "blocked"


# What an OSError on a local path says about the input, beyond "no such file".
_OS_REASONS = {
    errno.ELOOP: "a symlink loop",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "name too long",
    errno.EISDIR: "a folder",
}


def from_os_error(what: object, exc: OSError) -> InputError:
    """The input error an OSError on the local path ``what`` stands for: ``not_found`` for
    a path that is not there (or vanished meanwhile), ``unreadable`` with the reason else."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f"no such file or folder: {what}")
    reason = _OS_REASONS.get(exc.errno or 0) or exc.strerror or type(exc).__name__
    return Unreadable(f"cannot read {what}: {reason}")


class FetchError(ScanError):
    """Network trouble: worth another try."""

    code = "fetch_failed"
    retryable = True


class ScanTimeout(ScanError):
    code = "timeout"


def internal_error(exc: BaseException) -> ScanError:
    """The error recorded for a failure nobody foresaw: its class and what it said."""
    return ScanError(f"{type(exc).__name__}: {exc}", code="internal_error")
