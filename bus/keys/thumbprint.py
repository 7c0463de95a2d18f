"""Key ids: the RFC 7638 JWK thumbprint of an Ed25519 public key, so any JOSE tool derives the same id."""

import hashlib

from bus.util.encoding import b64url_encode, json_bytes


def jwk_thumbprint(raw_public_key: bytes) -> str:
    """The base64url SHA-256 thumbprint of the 32-byte Ed25519 public key `raw_public_key`."""
    # RFC 7638: the required members only, lexicographic order, no whitespace.
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw_public_key)}
    return b64url_encode(hashlib.sha256(json_bytes(jwk)).digest())
