"""URLs that carry credentials: ``user:password@host`` and S3 without any."""

from __future__ import annotations

import base64
from pathlib import Path

import _media
import pytest
from _media import ConnectLog, MediaServer, loopback_settings, write_face_video

from common.errors import ScanError
from common.media import open_media, redacted_url
from common.settings import Settings

media_server = _media.media_server
connect_log = _media.connect_log


def _error(target: str, settings: Settings) -> ScanError:
    with pytest.raises(ScanError) as exc, open_media(target, settings):
        pass
    return exc.value


def test_userinfo_becomes_basic_auth_and_stays_out_of_messages(
    tmp_path: Path, media_server: MediaServer
) -> None:
    video = write_face_video(tmp_path / "v.mp4", n=2)
    media_server.add("v.mp4", video)
    url = f"http://alice:s%40cret@127.0.0.1:{media_server.port}/f/v.mp4"
    with open_media(url, loopback_settings()) as media:
        assert media.path.read_bytes() == video.read_bytes()
    assert media_server.authorizations == ["Basic " + base64.b64encode(b"alice:s@cret").decode()]
    missing = f"http://alice:s3cret@127.0.0.1:{media_server.port}/missing/x"
    err = _error(missing, loopback_settings())
    assert err.code == "not_found" and "s3cret" not in err.message and "alice:***@" in err.message


def test_credentials_are_not_carried_over_a_redirect(
    tmp_path: Path, media_server: MediaServer
) -> None:
    video = write_face_video(tmp_path / "v.mp4", n=2)
    target = media_server.add("v.mp4", video)
    hop = media_server.redirect_to(target).replace("http://", "http://bob:pw@", 1)
    with open_media(hop, loopback_settings()):
        pass
    assert media_server.authorizations[0] is not None and media_server.authorizations[1] is None


def test_userinfo_on_a_private_address_is_blocked_not_an_internal_error(
    connect_log: ConnectLog,
) -> None:
    err = _error("https://user:pass@10.0.0.1/x.mp4", Settings())
    assert err.code == "blocked_address" and "pass" not in err.message
    assert connect_log.attempts == []


@pytest.mark.parametrize("url", ["http://h:port/x.mp4", "http://[::1/x.mp4"])
def test_a_url_that_does_not_parse_is_bad_url(url: str) -> None:
    assert _error(url, Settings()).code == "bad_url"


def test_redacted_url() -> None:
    assert redacted_url("https://u:p@h:8/x?y") == "https://u:***@h:8/x?y"
    assert redacted_url("https://u@h/x") == "https://u@h/x"  # no password to hide
    assert redacted_url("s3://b/k") == "s3://b/k"


def test_s3_without_credentials_is_a_permanent_s3_credentials_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No key anywhere boto3 looks (environment, files, instance metadata).
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = Settings(s3_endpoint_url=f"http://127.0.0.1:{_media.closed_port()}")
    err = _error("s3://bucket/v.mp4", settings)
    assert err.code == "s3_credentials" and not err.retryable
    assert "DFSCAN_AWS_ACCESS_KEY_ID" in err.message
