"""open_media: every input kind, the fetch policy (SSRF guard), the limits, and cleanup."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from pathlib import Path

import _media
import pytest
from _media import (
    ConnectLog,
    MediaServer,
    closed_port,
    index_frame,
    loopback_settings,
    write_frames_folder,
    write_image,
    write_index_video,
    write_zero_byte,
)

from common.errors import Blocked, EmptyInput, FetchError, NotFound, ScanError, TooLarge
from common.frames import SampleLimits, iter_frames
from common.media import open_media
from common.settings import Settings

# Fixtures shared with the other media tests.
media_server = _media.media_server
connect_log = _media.connect_log


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_index_video(tmp_path / "clip.mp4", n=20)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at a folder of this test's own, so leftovers can be counted."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _frames(target: str, settings: Settings, n: int = 4) -> list:
    with open_media(target, settings) as media:
        return list(iter_frames(media, n, SampleLimits()))


# --------------------------------------------------------------------------- local


def test_local_video(video: Path) -> None:
    with open_media(str(video), Settings()) as media:
        assert media.kind == "video"
        assert media.path == video
        assert media.sha256 is None  # local files are not copied
        frames = list(iter_frames(media, 4, SampleLimits()))
    assert len(frames) == 4
    assert video.exists()  # a local file is never deleted


def test_frames_folder_is_one_clip_in_sorted_order(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    write_frames_folder(folder, [index_frame(i) for i in range(10)])
    # Files written out of order and a non-image file in the folder change nothing.
    (folder / "notes.txt").write_text("not a frame")
    with open_media(str(folder), Settings()) as media:
        assert media.kind == "frames"
        frames = list(iter_frames(media, 10, SampleLimits()))
    assert [f.index for f in frames] == list(range(10))
    # Lossless PNG: the pixels are exactly those written for that index.
    for f in frames:
        assert (f.image == index_frame(f.index)).all()


def test_frames_folder_samples_spread(tmp_path: Path) -> None:
    folder = write_frames_folder(tmp_path / "clip", [index_frame(i) for i in range(30)])
    with open_media(str(folder), Settings()) as media:
        frames = list(iter_frames(media, 3, SampleLimits()))
    assert [f.index for f in frames] == [5, 15, 25]


def test_single_image(tmp_path: Path) -> None:
    img = write_image(tmp_path / "face.png", index_frame(7))
    with open_media(str(img), Settings()) as media:
        assert media.kind == "image"
        frames = list(iter_frames(media, 16, SampleLimits()))
    assert len(frames) == 1 and (frames[0].image == index_frame(7)).all()


def test_file_url(tmp_path: Path) -> None:
    sub = tmp_path / "with space"
    video = write_index_video(sub / "clip.mp4", n=12)
    url = "file://" + str(video).replace(" ", "%20")
    with open_media(url, Settings()) as media:
        assert media.path == video
        assert media.kind == "video"


def test_file_url_refused_when_scheme_not_allowed(video: Path) -> None:
    settings = Settings(allowed_schemes=["http", "https"])
    with pytest.raises(Blocked) as exc, open_media(f"file://{video}", settings):
        pass
    assert exc.value.code == "blocked_scheme"


def test_unsupported_scheme_refused() -> None:
    for target in ("ftp://example.com/a.mp4", "gopher://x/y", "javascript://alert"):
        with pytest.raises(Blocked) as exc, open_media(target, Settings()):
            pass
        assert exc.value.code == "blocked_scheme"


def test_local_missing(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as exc, open_media(str(tmp_path / "nope.mp4"), Settings()):
        pass
    assert exc.value.code == "not_found" and not exc.value.retryable


def test_local_zero_byte(tmp_path: Path) -> None:
    path = write_zero_byte(tmp_path / "empty.mp4")
    with pytest.raises(EmptyInput) as exc, open_media(str(path), Settings()):
        pass
    assert exc.value.code == "empty_file"


def test_local_too_large(video: Path) -> None:
    size = video.stat().st_size
    with open_media(str(video), Settings(max_bytes=size)):
        pass  # exactly at the limit is fine
    with pytest.raises(TooLarge) as exc, open_media(str(video), Settings(max_bytes=size - 1)):
        pass
    assert exc.value.code == "too_large"


# --------------------------------------------------------------------------- http


def test_http_download(video: Path, media_server: MediaServer, private_tmp: Path) -> None:
    url = media_server.add("clip.mp4", video)
    data = video.read_bytes()
    with open_media(url, loopback_settings()) as media:
        assert media.kind == "video"
        assert media.path.suffix == ".mp4"
        assert media.path.read_bytes() == data
        assert media.sha256 == hashlib.sha256(data).hexdigest()
        assert media.path.is_relative_to(private_tmp)
        frames = list(iter_frames(media, 4, SampleLimits()))
        downloaded = media.path
    assert len(frames) == 4
    assert not downloaded.exists()
    assert list(private_tmp.iterdir()) == []  # the whole temp folder is gone


def test_http_image_kind(tmp_path: Path, media_server: MediaServer) -> None:
    img = write_image(tmp_path / "face.jpg", index_frame(3))
    url = media_server.add("face.jpg", img)
    with open_media(url, loopback_settings()) as media:
        assert media.kind == "image"
        assert len(list(iter_frames(media, 4, SampleLimits()))) == 1


def test_http_without_range_support(video: Path, media_server: MediaServer) -> None:
    media_server.add("clip.mp4", video)
    url = media_server.url("/norange/clip.mp4")
    frames = _frames(url, loopback_settings(), n=4)
    assert len(frames) == 4
    # One plain GET, no range requests: the file was downloaded, not streamed to the decoder.
    assert media_server.requests == [("GET", "/norange/clip.mp4", None)]


def test_temp_file_removed_on_error(media_server: MediaServer, private_tmp: Path) -> None:
    with pytest.raises(ScanError), open_media(media_server.url("/huge"), loopback_settings()):
        pass
    with (
        pytest.raises(ScanError),
        open_media(media_server.url("/missing/x.mp4"), loopback_settings()),
    ):
        pass
    assert list(private_tmp.iterdir()) == []


def test_temp_file_removed_when_consumer_raises(
    video: Path, media_server: MediaServer, private_tmp: Path
) -> None:
    url = media_server.add("clip.mp4", video)
    with pytest.raises(RuntimeError), open_media(url, loopback_settings()) as media:
        assert media.path.exists()
        raise RuntimeError("consumer failed")
    assert list(private_tmp.iterdir()) == []


def test_http_404(media_server: MediaServer) -> None:
    with (
        pytest.raises(NotFound) as exc,
        open_media(media_server.url("/missing/clip.mp4"), loopback_settings()),
    ):
        pass
    assert exc.value.code == "not_found" and not exc.value.retryable


@pytest.mark.parametrize(
    ("status", "code", "retryable"), [(403, "http_error", False), (503, "fetch_failed", True)]
)
def test_http_other_errors(
    media_server: MediaServer, status: int, code: str, retryable: bool
) -> None:
    with (
        pytest.raises(ScanError) as exc,
        open_media(media_server.url(f"/error/{status}"), loopback_settings()),
    ):
        pass
    assert exc.value.code == code and exc.value.retryable is retryable


def test_http_zero_byte(media_server: MediaServer) -> None:
    url = media_server.add("empty.mp4", b"")
    with pytest.raises(EmptyInput) as exc, open_media(url, loopback_settings()):
        pass
    assert exc.value.code == "empty_file"


def test_http_too_large_announced(media_server: MediaServer) -> None:
    with (
        pytest.raises(TooLarge) as exc,
        open_media(media_server.url("/huge"), loopback_settings(max_bytes=10_000_000)),
    ):
        pass
    assert exc.value.code == "too_large"


def test_http_too_large_while_streaming(media_server: MediaServer) -> None:
    # No Content-Length: the limit must hold on the bytes actually read.
    url = media_server.url("/stream/3000000")
    with pytest.raises(TooLarge), open_media(url, loopback_settings(max_bytes=1_000_000)):
        pass
    with open_media(url, loopback_settings(max_bytes=3_000_000)) as media:
        assert media.path.stat().st_size == 3_000_000


def test_http_too_large_file(video: Path, media_server: MediaServer) -> None:
    url = media_server.add("clip.mp4", video)
    size = video.stat().st_size
    with pytest.raises(TooLarge), open_media(url, loopback_settings(max_bytes=size - 1)):
        pass
    with open_media(url, loopback_settings(max_bytes=size)) as media:
        assert media.path.stat().st_size == size


def test_unreachable_closed_port() -> None:
    url = f"http://127.0.0.1:{closed_port()}/clip.mp4"
    with pytest.raises(FetchError) as exc, open_media(url, loopback_settings()):
        pass
    assert exc.value.code == "unreachable"
    assert exc.value.retryable


def test_slow_server_times_out(media_server: MediaServer) -> None:
    url = media_server.url("/slow/3")
    with pytest.raises(FetchError) as exc, open_media(url, loopback_settings(fetch_timeout_s=0.3)):
        pass
    assert exc.value.code == "unreachable" and exc.value.retryable


def test_unresolvable_host(connect_log: ConnectLog) -> None:
    url = f"http://no-such-host-{uuid.uuid4().hex[:8]}.invalid/clip.mp4"
    with pytest.raises(FetchError) as exc, open_media(url, Settings()):
        pass
    assert exc.value.code == "unreachable"
    assert connect_log.attempts == []


# --------------------------------------------------------------------------- fetch policy


def test_loopback_refused_without_allowance(
    video: Path, media_server: MediaServer, connect_log: ConnectLog
) -> None:
    url = media_server.add("clip.mp4", video)
    for target in (url, url.replace("127.0.0.1", "localhost")):
        with pytest.raises(Blocked) as exc, open_media(target, Settings()):
            pass
        assert exc.value.code == "blocked_address"
        assert not exc.value.retryable
    assert media_server.requests == []
    assert connect_log.attempts == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/clip.mp4",
        "http://192.168.1.10:8080/clip.mp4",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::1]:8080/clip.mp4",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://0.0.0.0:8080/clip.mp4",
        "http://2130706433/clip.mp4",  # 127.0.0.1 written as one decimal number
        "https://100.64.0.1/clip.mp4",  # carrier-grade NAT (shared address space)
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata service
    ],
)
def test_private_addresses_refused_before_connecting(url: str, connect_log: ConnectLog) -> None:
    with pytest.raises(Blocked) as exc, open_media(url, Settings()):
        pass
    assert exc.value.code == "blocked_address"
    assert connect_log.attempts == []  # refused on the resolved address: no packet sent


def test_allowance_is_specific(connect_log: ConnectLog) -> None:
    # Allowing 127.0.0.1 does not open the metadata service or the private ranges.
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x.mp4"):
        with pytest.raises(Blocked), open_media(url, loopback_settings()):
            pass
    assert connect_log.attempts == []


def test_redirect_to_blocked_address_refused(
    media_server: MediaServer, connect_log: ConnectLog
) -> None:
    for target in (
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/clip.mp4",
        "http://[::1]/clip.mp4",
    ):
        with (
            pytest.raises(Blocked) as exc,
            open_media(media_server.redirect_to(target), loopback_settings()),
        ):
            pass
        assert exc.value.code == "blocked_address"
    # Only the test server was contacted; the redirect target never was.
    assert connect_log.non_loopback() == []
    assert len(media_server.requests) == 3


def test_redirect_to_file_url_refused(media_server: MediaServer, tmp_path: Path) -> None:
    # A remote server must not make us read a local file by redirecting to file://.
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"x" * 100)
    with (
        pytest.raises(Blocked) as exc,
        open_media(media_server.redirect_to(f"file://{secret}"), loopback_settings()),
    ):
        pytest.fail("a redirect to file:// was followed")
    assert exc.value.code == "blocked_redirect" and not exc.value.retryable


def test_redirect_loop_is_permanent(media_server: MediaServer) -> None:
    with pytest.raises(Blocked) as exc, open_media(media_server.url("/loop"), loopback_settings()):
        pass
    assert exc.value.code == "blocked_redirect" and not exc.value.retryable
    assert len(media_server.requests) <= 12  # urllib gives up after 10 hops


def test_redirect_to_allowed_host_followed(video: Path, media_server: MediaServer) -> None:
    url = media_server.add("clip.mp4", video)
    with open_media(media_server.redirect_to(url), loopback_settings()) as media:
        assert media.path.read_bytes() == video.read_bytes()
    assert [r[1] for r in media_server.requests][1] == "/f/clip.mp4"


# --------------------------------------------------------------------------- s3


def _s3_settings(endpoint: str, **overrides: object) -> Settings:
    from _cluster import S3_KEY

    return Settings(
        s3_endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.mark.services
def test_s3(video: Path, s3_endpoint: str, s3_bucket: str, private_tmp: Path) -> None:
    from common.media import s3_client

    settings = _s3_settings(s3_endpoint)
    data = video.read_bytes()
    client = s3_client(settings)
    client.put_object(Bucket=s3_bucket, Key="in/clip.mp4", Body=data)
    client.put_object(Bucket=s3_bucket, Key="in/empty.mp4", Body=b"")

    with open_media(f"s3://{s3_bucket}/in/clip.mp4", settings) as media:
        assert media.kind == "video"
        assert media.sha256 == hashlib.sha256(data).hexdigest()
        assert len(list(iter_frames(media, 4, SampleLimits()))) == 4
    assert list(private_tmp.iterdir()) == []

    cases = [
        (f"s3://{s3_bucket}/in/missing.mp4", settings, "not_found"),
        (f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/clip.mp4", settings, "not_found"),
        (f"s3://{s3_bucket}/in/empty.mp4", settings, "empty_file"),
        (
            f"s3://{s3_bucket}/in/clip.mp4",
            _s3_settings(s3_endpoint, max_bytes=len(data) - 1),
            "too_large",
        ),
        (f"s3://{s3_bucket}", settings, "bad_url"),
    ]
    for target, s, code in cases:
        with pytest.raises(ScanError) as exc, open_media(target, s):
            pass
        assert exc.value.code == code, target
    assert list(private_tmp.iterdir()) == []


@pytest.mark.services
def test_s3_scheme_can_be_disabled(s3_endpoint: str, s3_bucket: str) -> None:
    settings = _s3_settings(s3_endpoint, allowed_schemes=["http", "https"])
    with pytest.raises(Blocked) as exc, open_media(f"s3://{s3_bucket}/clip.mp4", settings):
        pass
    assert exc.value.code == "blocked_scheme"


def test_dns_rebinding_does_not_reach_loopback(
    video: Path,
    media_server: MediaServer,
    connect_log: ConnectLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name that resolves to a public address when checked and to 127.0.0.1 when
    connected must not reach the loopback server."""
    import socket

    media_server.add("clip.mp4", video)
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "rebind.test":
            return real_getaddrinfo(next(answers), port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://rebind.test:{media_server.port}/f/clip.mp4"
    with pytest.raises(ScanError), open_media(url, Settings()):
        pass
    assert media_server.requests == []
