"""Scan errors with stable codes, split into permanent (record once) and retryable."""

from __future__ import annotations


class ScanError(Exception):
    """A scan failed for a reason worth recording with a stable ``code``.

    ``retryable`` errors (network, database) may succeed on another attempt; permanent ones
    (unreadable video, no face) are recorded once and never retried.
    """

    code = "scan_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
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
    """Refused by fetch policy (private address, scheme not allowed)."""

    code = "blocked"


class FetchError(ScanError):
    """Network trouble: worth another try."""

    code = "fetch_failed"
    retryable = True


class ScanTimeout(ScanError):
    code = "timeout"
