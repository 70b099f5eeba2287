"""The server's VAPID identity for Web Push (RFC 8292): one ECDSA P-256 key pair per
installation. Browsers bind a subscription to its public key, so the pair must outlive
restarts and be the same on every instance: give it by ``VAPID_PRIVATE_KEY``, or it is
generated on first run into ``DATA_DIR`` (ignored by git), like the secret key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.core.private_files import create_private_file

KEY_FILE = "vapid_private_key.pem"


@dataclass(frozen=True)
class VapidKeys:
    private_key: ec.EllipticCurvePrivateKey

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_key(self) -> str:
        """The uncompressed point, base64url without padding: a browser's
        ``applicationServerKey``."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def load_vapid_keys(data_dir: Path, given: str = "") -> VapidKeys:
    """The key given (PEM, or the 32-byte private value in base64url), else the one kept in
    ``data_dir``, else a new one kept there."""
    if given.strip():
        return VapidKeys(_parse(given.strip()))
    path = data_dir / KEY_FILE
    if path.exists():
        return VapidKeys(_parse(path.read_text()))
    made = VapidKeys(ec.generate_private_key(ec.SECP256R1())).private_pem
    return VapidKeys(_parse(create_private_file(path, made)))


def _parse(text: str) -> ec.EllipticCurvePrivateKey:
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("VAPID_PRIVATE_KEY must be an ECDSA P-256 private key")
    return key
