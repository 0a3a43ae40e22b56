"""Trusted bundles: the bundled model by the digest pinned in the code, others by the
operator's digest or Ed25519 signature; a tampered pickle with rewritten sums never unpickles."""

from __future__ import annotations

import hashlib
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)

import models.trusted
from common.settings import Settings
from models.bundle import (
    DEFAULT_BUNDLE,
    META,
    PICKLE,
    SUMS,
    BundleError,
    bundle_digest,
    load_bundle,
)
from models.trusted import BUNDLED_SHA256, SIGNATURE, Trust, pin


def test_pinned_digest_is_the_bundled_model() -> None:
    actual = bundle_digest(DEFAULT_BUNDLE)
    assert actual == BUNDLED_SHA256, (
        f"models/default changed but models/trusted.py still pins {BUNDLED_SHA256}: set "
        f'BUNDLED_SHA256 = "{actual}" (scripts/train-default does it: python -m models.trusted)'
    )
    # The digest is what an operator can check by hand: sha256sum models/default/SHA256SUMS.
    assert actual == hashlib.sha256((DEFAULT_BUNDLE / SUMS).read_bytes()).hexdigest()


class _Trap:
    """Unpickling this writes ``path``: whether the file exists tells whether it loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (exec, (f"open({str(self.path)!r}, 'w').write('pwned')",))


def _rewrite_sums(folder: Path) -> None:
    """What an attacker who can write the folder does after swapping model.pkl."""
    (folder / SUMS).write_text(
        "".join(
            f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n"
            for n in (PICKLE, META)
        )
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the bundled model, outside the package."""
    folder = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, folder)
    return folder


def _tamper(folder: Path, sentinel: Path) -> None:
    (folder / PICKLE).write_bytes(pickle.dumps(_Trap(sentinel)))
    _rewrite_sums(folder)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    """A signing key and its public half as the PEM file DFSCAN_MODEL_PUBLIC_KEY names."""
    private = Ed25519PrivateKey.generate()
    public = tmp_path / "signing.pub"
    public.write_bytes(
        private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def _sign(folder: Path, private: Ed25519PrivateKey) -> None:
    (folder / SIGNATURE).write_bytes(private.sign((folder / SUMS).read_bytes()))


def test_the_bundled_model_is_trusted_wherever_it_lies(copy: Path) -> None:
    assert load_bundle(copy).version == load_bundle().version


def test_the_trap_really_fires(copy: Path, tmp_path: Path) -> None:
    """Control for the refusals: a trap the operator vouches for does run on load."""
    sentinel = tmp_path / "written-by-pickle"
    _tamper(copy, sentinel)
    load_bundle(copy, Trust(digest=bundle_digest(copy)))
    assert sentinel.read_text() == "pwned"


def test_tampered_pickle_with_rewritten_sums_is_refused_before_unpickling(
    copy: Path, tmp_path: Path, keys: tuple[Ed25519PrivateKey, Path]
) -> None:
    private, public = keys
    vouched = bundle_digest(copy)  # the operator vouched for the genuine bundle
    _sign(copy, private)  # ...and it was signed
    sentinel = tmp_path / "written-by-pickle"
    _tamper(copy, sentinel)
    for trust in (Trust(), Trust(digest=vouched), Trust(public_key=public)):
        with pytest.raises(BundleError, match="not trusted"):
            load_bundle(copy, trust)
        assert not sentinel.exists(), trust


def test_an_operator_digest_loads_another_bundle(copy: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(copy, other)
    # Same files, another SHA256SUMS (one more blank line): intact, but another digest.
    (other / SUMS).write_bytes((other / SUMS).read_bytes() + b"\n")
    digest = bundle_digest(other)
    assert digest != BUNDLED_SHA256
    with pytest.raises(BundleError, match=f"DFSCAN_MODEL_SHA256={digest}"):
        load_bundle(other)
    # From the environment, as every entry point builds it; hex case does not matter.
    settings = Settings(model_path=other, model_sha256=digest.upper())
    assert load_bundle(other, Trust.from_settings(settings)).threshold == load_bundle().threshold
    with pytest.raises(BundleError, match="not trusted"):
        load_bundle(other, Trust(digest=BUNDLED_SHA256.replace("b", "c")))


def test_a_signature_by_the_configured_key_loads_another_bundle(
    copy: Path, keys: tuple[Ed25519PrivateKey, Path]
) -> None:
    private, public = keys
    (copy / SUMS).write_bytes((copy / SUMS).read_bytes() + b"\n")  # not the bundled digest
    with pytest.raises(BundleError, match="not trusted"):
        load_bundle(copy, Trust(public_key=public))  # no signature yet
    _sign(copy, Ed25519PrivateKey.generate())  # someone else's key
    with pytest.raises(BundleError, match="does not verify"):
        load_bundle(copy, Trust(public_key=public))
    _sign(copy, private)
    settings = Settings(model_public_key=public)
    assert load_bundle(copy, Trust.from_settings(settings)).families
    with pytest.raises(BundleError, match="not trusted"):
        load_bundle(copy)  # a signature alone, with no key configured, proves nothing


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_openssl_signatures_verify(copy: Path, tmp_path: Path) -> None:
    """The signing steps docs/distributed.md gives, with the openssl command line."""
    (copy / SUMS).write_bytes((copy / SUMS).read_bytes() + b"\n")
    key, pub = tmp_path / "signing.pem", tmp_path / "signing.pub"
    for cmd in (
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", key],
        ["openssl", "pkey", "-in", key, "-pubout", "-out", pub],
        ["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin"]
        + ["-in", copy / SUMS, "-out", copy / SIGNATURE],
    ):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    assert load_bundle(copy, Trust(public_key=pub)).families


def test_a_public_key_of_another_kind_is_refused(copy: Path, tmp_path: Path) -> None:
    (copy / SUMS).write_bytes((copy / SUMS).read_bytes() + b"\n")
    (copy / SIGNATURE).write_bytes(b"\0" * 64)
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("hello\n")
    with pytest.raises(BundleError, match="DFSCAN_MODEL_PUBLIC_KEY"):
        load_bundle(copy, Trust(public_key=bad))


def test_pin_rewrites_the_one_constant(copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "trusted.py"
    shutil.copy(models.trusted.__file__, source)
    (copy / SUMS).write_bytes((copy / SUMS).read_bytes() + b"\n")
    digest = pin(copy, source)
    assert digest == bundle_digest(copy) != BUNDLED_SHA256
    text = source.read_text()
    assert f'BUNDLED_SHA256 = "{digest}"' in text and BUNDLED_SHA256 not in text
    # Nothing else changed.
    original = Path(models.trusted.__file__).read_text()
    assert text == original.replace(BUNDLED_SHA256, digest)
