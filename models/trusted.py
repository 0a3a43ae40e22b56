"""Which model bundles may be unpickled: the bundled one, and others the operator vouches for.

A pickle runs code when it is loaded, and ``SHA256SUMS`` beside it only catches corruption:
whoever can replace ``model.pkl`` can rewrite the sums too. So a bundle is identified by its
**digest**, the SHA-256 of its ``SHA256SUMS`` file (which lists the SHA-256 of ``model.pkl``
and ``meta.json``; ``sha256sum BUNDLE/SHA256SUMS`` prints it), and it loads only when

- its digest is :data:`BUNDLED_SHA256`, the model shipped in ``models/default``, pinned here
  in the code; or
- the operator supplied its digest (``DFSCAN_MODEL_SHA256``); or
- its ``SHA256SUMS.sig`` is an Ed25519 signature of ``SHA256SUMS`` made with the key whose
  public half the operator configured (``DFSCAN_MODEL_PUBLIC_KEY``, a PEM file).

Updating the bundled model: ``scripts/train-default`` rewrites :data:`BUNDLED_SHA256` (with
:func:`pin`) after it rebuilt ``models/default``; ``tests/unit/models/test_trusted.py`` fails
when the constant and the folder disagree, so a forgotten update cannot pass CI.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from common.settings import Settings

# The digest of models/default: sha256 of models/default/SHA256SUMS. Written by `pin`.
BUNDLED_SHA256 = "b3a8a72eba8b041577bd7bda16edf4f7134681597f56e7cf61051ee01bff4cbb"

SIGNATURE = "SHA256SUMS.sig"
_CONSTANT = re.compile(r'^BUNDLED_SHA256 = "[0-9a-f]{64}"$', re.M)


class UntrustedBundle(ValueError):
    """The bundle is intact but nobody vouched for it."""


def digest_of(sums: bytes) -> str:
    """A bundle's digest, from the bytes of its SHA256SUMS file."""
    return hashlib.sha256(sums).hexdigest()


@dataclass(frozen=True)
class Trust:
    """What may load besides the bundled model: one operator-supplied digest, and bundles
    signed by the holder of ``public_key`` (a PEM file of an Ed25519 public key)."""

    digest: str | None = None
    public_key: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Trust:
        digest = settings.model_sha256.lower() if settings.model_sha256 else None
        return cls(digest=digest, public_key=settings.model_public_key)

    def check(self, sums: bytes, signature: bytes | None) -> str:
        """Why a bundle with these SHA256SUMS bytes may load; raises UntrustedBundle if not."""
        digest = digest_of(sums)
        if digest == BUNDLED_SHA256:
            return "the bundled model"
        if digest == self.digest:
            return "DFSCAN_MODEL_SHA256"
        if self.public_key is not None and signature is not None:
            if _signed(self.public_key, sums, signature):
                return "a signature by DFSCAN_MODEL_PUBLIC_KEY"
            raise UntrustedBundle(f"{SIGNATURE} does not verify with DFSCAN_MODEL_PUBLIC_KEY")
        raise UntrustedBundle(
            f"its digest {digest} is not the bundled model's; to trust it, set "
            f"DFSCAN_MODEL_SHA256={digest} (compare with what `dfscan train` printed) or sign "
            f"its SHA256SUMS with your Ed25519 key (docs/distributed.md, Model bundles)"
        )


def _signed(public_key: Path, sums: bytes, signature: bytes) -> bool:
    # Imported here: only operators who sign bundles use cryptography.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(public_key.read_bytes())
    except (OSError, ValueError) as exc:
        raise UntrustedBundle(f"DFSCAN_MODEL_PUBLIC_KEY {public_key}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UntrustedBundle("DFSCAN_MODEL_PUBLIC_KEY must be an Ed25519 public key (PEM)")
    try:
        key.verify(signature, sums)
    except InvalidSignature:
        return False
    return True


def pin(bundle: Path, source: Path = Path(__file__)) -> str:
    """Make ``bundle`` (normally models/default) the trusted bundled model: rewrite
    :data:`BUNDLED_SHA256` in ``source``; return the digest."""
    digest = digest_of((bundle / "SHA256SUMS").read_bytes())
    text = source.read_text()
    if len(_CONSTANT.findall(text)) != 1:
        raise RuntimeError(f"{source}: expected one BUNDLED_SHA256 line to rewrite")
    source.write_text(_CONSTANT.sub(f'BUNDLED_SHA256 = "{digest}"', text))
    return digest


if __name__ == "__main__":  # python -m models.trusted [BUNDLE]: pin BUNDLE (models/default)
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "default"
    print(f"BUNDLED_SHA256 = {pin(folder)} ({folder})")
