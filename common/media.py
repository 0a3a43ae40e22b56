"""Turn a scan target (path, folder of frames, image, http(s) URL, s3:// URI) into local media.

Remote media is downloaded to a temporary file under a byte limit, with every connection
checked against the fetch policy; the file is removed when the context exits. A download
rather than a stream because OpenCV opens an MP4 served without HTTP range support with zero
frames, and because the byte limit must hold before any decoder sees the data.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import shutil
import socket
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from common.errors import (
    Blocked,
    EmptyInput,
    FetchError,
    InputError,
    NotFound,
    ScanError,
    TooLarge,
)
from common.local_files import IMAGE_SUFFIXES, LocalMedia, MediaKind, classify_path, local_media
from common.netsafety import resolve_allowed
from common.settings import Settings

CHUNK = 1 << 20

# LocalMedia, classify_path and IMAGE_SUFFIXES live in common.local_files, named here too.
__all__ = [
    "IMAGE_SUFFIXES",
    "LocalMedia",
    "MediaKind",
    "classify_path",
    "copy_limited",
    "is_remote",
    "open_media",
    "s3_client",
]


def _suffix_of(url_path: str) -> str:
    return Path(unquote(url_path)).suffix.lower()[:8] or ".bin"


def copy_limited(src: IO[bytes], dst: IO[bytes], limit: int, what: str) -> str:
    """Copy a stream, refusing past ``limit`` bytes; returns the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    total = 0
    while chunk := src.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"{what} is over the limit of {limit} bytes")
        digest.update(chunk)
        dst.write(chunk)
    if total == 0:
        raise EmptyInput(f"{what} is empty (0 bytes)")
    return digest.hexdigest()


def _connect_checked(
    host: str, port: int, timeout: float, source: tuple[str, int] | None, allow: list[str]
) -> socket.socket:
    """A TCP socket to ``host``, opened to one of the addresses the fetch policy just checked.

    Connecting by address, not by name, is the point: a second lookup (what urllib does by
    default) could be answered differently, e.g. 127.0.0.1 after a public address passed the
    check (DNS rebinding).
    """
    error: OSError | None = None
    for addr in resolve_allowed(host, port, allow):  # raises Blocked before any packet is sent
        try:
            return socket.create_connection((str(addr), port), timeout, source)
        except OSError as exc:  # try the next address, as socket.create_connection would
            error = exc
    raise error or OSError(f"no address to connect to for {host}")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the checked address; the Host header still carries the name (urllib sets it)."""

    def __init__(self, host: str, *, allow_private: list[str], **kwargs: object) -> None:
        super().__init__(host, **kwargs)  # type: ignore[arg-type]
        self.allow_private = allow_private

    def connect(self) -> None:
        self.sock = _connect_checked(
            self.host, self.port, self.timeout, self.source_address, self.allow_private
        )


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address, with TLS SNI and certificate checks on the host *name*."""

    def __init__(self, host: str, *, allow_private: list[str], **kwargs: object) -> None:
        super().__init__(host, **kwargs)  # type: ignore[arg-type]
        self.allow_private = allow_private

    def connect(self) -> None:
        sock = _connect_checked(
            self.host, self.port, self.timeout, self.source_address, self.allow_private
        )
        # The context verifies the certificate (CERT_REQUIRED, check_hostname) against
        # server_hostname, so pinning the address does not weaken TLS.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.allow_private = list(settings.allow_private_hosts)

    def http_open(self, req):  # type: ignore[no-untyped-def]
        return self.do_open(_CheckedHTTPConnection, req, allow_private=self.allow_private)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.allow_private = list(settings.allow_private_hosts)

    def https_open(self, req):  # type: ignore[no-untyped-def]
        return self.do_open(
            _CheckedHTTPSConnection, req, context=self._context, allow_private=self.allow_private
        )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Apply the fetch policy to every redirect hop, not just the first URL.

    The scheme and host are checked here; the address is checked when the hop connects,
    through the same handlers as the first request.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        _check_url(newurl, self.settings)
        if "@" in urlsplit(newurl).netloc:  # credentials chosen by the server: never sent
            raise Blocked(
                f"redirect to a URL with credentials: {redacted_url(newurl)}",
                code="blocked_redirect",
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def split_url(url: str) -> SplitResult:
    """``urlsplit``, with ``bad_url`` for what it (or its port) cannot parse."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise InputError(f"not a valid URL ({exc})", code="bad_url") from exc
    return parts


def _check_url(url: str, settings: Settings) -> None:
    """Scheme and host of a URL; its addresses are checked on connect (_connect_checked)."""
    parts = split_url(url)
    if parts.scheme not in settings.allowed_schemes or parts.scheme not in ("http", "https"):
        raise Blocked(f"URL scheme {parts.scheme!r} is not allowed", code="blocked_scheme")
    if not parts.hostname:
        raise InputError(f"URL has no host: {redacted_url(url)}", code="bad_url")


def redacted_url(url: str) -> str:
    """The URL with any password in it replaced by ``***``: for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}"))


def _split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without ``user:password@``, and the HTTP Basic credentials it carried.

    urllib refuses such URLs (http.client reads ``pass@host`` as a port); the host is
    checked like any other, and the credentials go in a header that redirects do not carry.
    """
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=hostport)), f"Basic {token}"


def _opener(settings: Settings) -> urllib.request.OpenerDirector:
    # No proxies (an empty ProxyHandler overrides http_proxy & co. from the environment):
    # through a proxy, the proxy resolves the name and the address check would mean nothing.
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _CheckedHTTPHandler(settings),
        _CheckedHTTPSHandler(settings),
        _CheckedRedirects(settings),
    )


def _download_http(url: str, dst: IO[bytes], settings: Settings) -> str:
    _check_url(url, settings)
    opener = _opener(settings)
    bare, credentials = _split_credentials(url)
    shown = redacted_url(url)
    request = urllib.request.Request(bare, headers={"User-Agent": "dfscan/0.1"})
    if credentials:
        request.add_unredirected_header("Authorization", credentials)
    try:
        with opener.open(request, timeout=settings.fetch_timeout_s) as resp:
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > settings.max_bytes:
                raise TooLarge(f"{shown} announces {length} bytes, over {settings.max_bytes}")
            return copy_limited(resp, dst, settings.max_bytes, shown)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:  # a redirect urllib refused (to file://, or a loop): permanent
            raise Blocked(
                f"HTTP {exc.code} for {shown}: {exc.msg}", code="blocked_redirect"
            ) from exc
        if exc.code in (404, 410):
            raise NotFound(f"HTTP {exc.code} for {shown}") from exc
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise InputError(f"HTTP {exc.code} for {shown}", code="http_error") from exc
        raise FetchError(f"HTTP {exc.code} for {shown}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        if isinstance(exc, ScanError):
            raise
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            # An untrusted, expired or mismatched certificate does not heal on a retry
            # minutes later: recorded once, with what the check said.
            raise InputError(
                f"TLS certificate of {shown} rejected: {reason.verify_message}", code="tls_error"
            ) from exc
        raise FetchError(f"cannot fetch {shown}: {reason}", code="unreachable") from exc


def s3_client(settings: Settings):  # type: ignore[no-untyped-def]
    """A boto3 S3 client for the configured endpoint (AWS when unset)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        config=Config(
            connect_timeout=settings.fetch_timeout_s,
            read_timeout=settings.fetch_timeout_s,
            retries={"max_attempts": 2},
        ),
    )


# Credentials that are missing, wrong or expired do not heal on a retry: an operator must
# configure them (DFSCAN_AWS_ACCESS_KEY_ID / DFSCAN_AWS_SECRET_ACCESS_KEY).
S3_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)


def s3_credentials_error(uri: str, why: str) -> InputError:
    return InputError(
        f"{uri}: {why} (set DFSCAN_AWS_ACCESS_KEY_ID and DFSCAN_AWS_SECRET_ACCESS_KEY)",
        code="s3_credentials",
    )


def _download_s3(uri: str, dst: IO[bytes], settings: Settings) -> str:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise InputError(f"malformed S3 URI (want s3://bucket/key): {uri}", code="bad_url")
    try:
        obj = s3_client(settings).get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise NotFound(f"{uri}: {code}") from exc
        if code in ("AccessDenied", "403"):
            raise InputError(f"{uri}: access denied", code="forbidden") from exc
        if code in S3_CREDENTIAL_CODES:
            raise s3_credentials_error(uri, f"credentials refused ({code})") from exc
        raise FetchError(f"{uri}: {code or exc}") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise s3_credentials_error(uri, "no S3 credentials") from exc
    except BotoCoreError as exc:
        raise FetchError(f"{uri}: {exc}", code="unreachable") from exc
    if obj.get("ContentLength", 0) > settings.max_bytes:
        raise TooLarge(f"{uri} is {obj['ContentLength']} bytes, over {settings.max_bytes}")
    body = obj["Body"]
    try:
        return copy_limited(body, dst, settings.max_bytes, uri)
    finally:
        body.close()


def is_remote(target: str) -> bool:
    return target.split("://", 1)[0].lower() in ("http", "https", "s3") and "://" in target


@contextmanager
def open_media(target: str, settings: Settings) -> Iterator[LocalMedia]:
    """Yield the target as local media; downloaded copies are deleted on exit."""
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme in ("", "file"):
        if scheme == "file" and "file" not in settings.allowed_schemes:
            raise Blocked("file:// targets are not allowed here", code="blocked_scheme")
        path = Path(unquote(split_url(target).path)) if scheme else Path(target)
        with local_media(path, settings) as media:
            yield media
        return
    if scheme not in ("http", "https", "s3"):
        raise Blocked(f"URL scheme {scheme!r} is not supported", code="blocked_scheme")
    if scheme not in settings.allowed_schemes:
        raise Blocked(f"URL scheme {scheme!r} is not allowed", code="blocked_scheme")
    tmpdir = Path(tempfile.mkdtemp(prefix="dfscan-"))
    try:
        local = tmpdir / f"media{_suffix_of(split_url(target).path)}"
        with local.open("wb") as dst:
            if scheme == "s3":
                digest = _download_s3(target, dst, settings)
            else:
                digest = _download_http(target, dst, settings)
        kind: MediaKind = "image" if local.suffix in IMAGE_SUFFIXES else "video"
        yield LocalMedia(path=local, kind=kind, sha256=digest)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
