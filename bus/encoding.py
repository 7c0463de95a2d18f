"""base64url without padding, compact JSON and SD-JWT digests (RFC 7515, RFC 9901)."""

import base64
import binascii
import hashlib
import json
from typing import Any


class MalformedEncodingError(ValueError):
    """Input that is not the base64url or JSON it should be; callers turn it into their own error."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedEncodingError(f"not base64url: {text[:24]!r}…") from exc


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_from_b64url(text: str, what: str) -> Any:
    try:
        return json.loads(b64url_decode(text))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEncodingError(f"{what} is not valid JSON") from exc


def sd_digest(encoded_disclosure: str) -> str:
    """RFC 9901 digest: sha-256 over the ASCII of the base64url-encoded disclosure."""
    return b64url_encode(hashlib.sha256(encoded_disclosure.encode("ascii")).digest())
