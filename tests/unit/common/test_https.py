"""https:// through a real TLS server on 127.0.0.1, with a certificate authority made here.

The fetcher connects to the address it checked (SSRF guard) and must still verify the
certificate against the host *name*: a trusted certificate for that name is accepted, an
untrusted one or one for another name is refused once, as a permanent ``tls_error``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _media import _Handler, _Server, loopback_settings, write_index_video

from common.errors import InputError
from common.media import open_media


def _pem_pair(name: str, dns: list[str], issuer: tuple | None = None) -> tuple[bytes, bytes, tuple]:
    """(cert PEM, key PEM, (cert, key) objects): self-signed CA, or a leaf signed by issuer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, (cert, key)


@dataclass
class TlsServer:
    port: int
    ca_file: Path
    files: dict[str, bytes]

    def url(self, host: str, name: str) -> str:
        return f"https://{host}:{self.port}/f/{name}"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    folder = tmp_path_factory.mktemp("tls")
    ca_pem, _, ca = _pem_pair("dfscan test CA", [])
    leaf_pem, leaf_key, _ = _pem_pair("localhost", ["localhost"], issuer=ca)
    (folder / "ca.pem").write_bytes(ca_pem)
    (folder / "leaf.pem").write_bytes(leaf_pem)
    (folder / "leaf.key").write_bytes(leaf_key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests = {}, []
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield TlsServer(httpd.server_address[1], folder / "ca.pem", httpd.files)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_index_video(tmp_path_factory.mktemp("clip") / "clip.mp4", 30)


def test_https_with_a_trusted_certificate(
    tls_server: TlsServer, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
    tls_server.files["clip.mp4"] = data = clip.read_bytes()
    settings = loopback_settings(allow_private_hosts=["localhost"])
    with open_media(tls_server.url("localhost", "clip.mp4"), settings) as media:
        assert media.kind == "video"
        assert media.path.read_bytes() == data
        assert media.sha256 == hashlib.sha256(data).hexdigest()


def test_https_untrusted_certificate_is_a_permanent_error(
    tls_server: TlsServer, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The system store does not know the test CA.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    tls_server.files["clip.mp4"] = clip.read_bytes()
    settings = loopback_settings(allow_private_hosts=["localhost"])
    url = tls_server.url("localhost", "clip.mp4")
    with pytest.raises(InputError) as err, open_media(url, settings):
        pass
    assert err.value.code == "tls_error" and not err.value.retryable
    assert "certificate" in err.value.message


def test_https_checks_the_name_not_the_pinned_address(
    tls_server: TlsServer, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trusted CA, but the certificate names "localhost", not 127.0.0.1: refused, although
    # the connection goes to the very address the certificate's host resolves to.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
    tls_server.files["clip.mp4"] = clip.read_bytes()
    url = tls_server.url("127.0.0.1", "clip.mp4")
    with pytest.raises(InputError) as err, open_media(url, loopback_settings()):
        pass
    assert err.value.code == "tls_error"
    assert "127.0.0.1" in err.value.message
