"""What a distributed worker may read: URLs of allowed schemes, local files only under a root.

A submitted list is untrusted. A worker that opened any path it was handed would bypass the
address guard (``common.netsafety``) and, through ``not_found`` against ``unreadable``, tell
a submitter which files exist on it. So a worker reads ``http(s)://`` and ``s3://`` URLs,
and local paths or ``file://`` URLs only inside the folder the operator names in
``DFSCAN_LOCAL_ROOT`` (symlinks resolved first). ``dfscan submit`` applies the same rules to
every line before it records anything; the embedded ``dfscan scan`` reads what its user
names and does not apply them.
"""

from __future__ import annotations

import os
from urllib.parse import unquote

from common.errors import Blocked, InputError
from common.media import split_url
from common.settings import Settings

REMOTE_SCHEMES = ("http", "https", "s3")
MAX_TARGET_CHARS = 4096


def check_worker_target(target: str, settings: Settings) -> None:
    """Raise ``blocked_scheme``, ``blocked_path`` or ``bad_url`` for a target a worker must
    not read; return quietly for one it may. Looks at no file outside the root."""
    if len(target) > MAX_TARGET_CHARS:
        raise InputError(f"longer than {MAX_TARGET_CHARS} characters", code="bad_url")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        raise InputError("control characters in the URL", code="bad_url")
    if "://" not in target:
        _check_local(target, settings)
        return
    parts = split_url(target)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if settings.local_root is None:
            raise Blocked(_NO_ROOT.format(what="file:// URLs"), code="blocked_scheme")
        _check_local(unquote(parts.path), settings)
        return
    if scheme not in REMOTE_SCHEMES or scheme not in settings.allowed_schemes:
        allowed = ", ".join(s for s in REMOTE_SCHEMES if s in settings.allowed_schemes)
        raise Blocked(f"URL scheme {scheme!r} is not allowed ({allowed})", code="blocked_scheme")
    if scheme == "s3" and not (parts.netloc and parts.path.strip("/")):
        raise InputError("malformed S3 URI (want s3://bucket/key)", code="bad_url")
    if scheme != "s3" and not parts.hostname:
        raise InputError("URL has no host", code="bad_url")


_NO_ROOT = "{what} are not read by workers (DFSCAN_LOCAL_ROOT names a folder they may read)"


def _check_local(path: str, settings: Settings) -> None:
    if settings.local_root is None:
        raise Blocked(_NO_ROOT.format(what="local paths"), code="blocked_path")
    if not os.path.isabs(path):
        raise Blocked("a relative path: workers need an absolute one", code="blocked_path")
    root = os.path.realpath(settings.local_root)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise Blocked(f"{path} is outside DFSCAN_LOCAL_ROOT", code="blocked_path")
