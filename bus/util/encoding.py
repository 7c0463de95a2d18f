"""base64url without padding, compact JSON and SD-JWT digests (RFC 7515, RFC 9901).

These run several times per event on the enforcer's path, so they use the fastest correct tools at
hand: binascii for base64 and pydantic-core's Rust JSON codec (faster here than `json`; the codec's
cost is measured by benchmarks/codec.py).
"""

import binascii
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pydantic_core

from bus.util import native

_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


class MalformedEncodingError(ValueError):
    """Input that is not the base64url or JSON it should be; callers turn it into their own error."""


def b64url_encode(data: bytes) -> str:
    """`data` as base64url without padding (RFC 7515 §2)."""
    return (
        binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")
    )


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url `text`; `MalformedEncodingError` for anything else."""
    try:
        data = text.encode("ascii").translate(_FROM_URLSAFE)
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise MalformedEncodingError(f"not base64url: {text[:24]!r}…") from exc


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces, non-ASCII kept as is)."""
    return pydantic_core.to_json(value)


def json_loads(data: bytes, what: str) -> Any:
    """Strict JSON: UTF-8, no lone surrogates, and no object naming a member twice (RFC 8259 leaves
    that to the parser: we would read the last value, another reader of the same signed bytes
    the first)."""
    try:
        value = pydantic_core.from_json(data)
    except ValueError as exc:
        raise MalformedEncodingError(f"{what} is not valid JSON") from exc
    # Without a "{" there is no object (most disclosures are scalars). Bytes that are exactly the
    # compact encoding of the value read (as the bus issues them) cannot repeat a member: the
    # encoding of a dict has each once. Anything else gets the slower, member-by-member check.
    if b"{" in data and pydantic_core.to_json(value) != data:
        _require_unique_members(data, what)
    return value


class _RepeatedMemberError(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> None:
    if len({name for name, _ in pairs}) != len(pairs):
        raise _RepeatedMemberError
    # Returns nothing: only the check matters, the value is pydantic-core's.


# pydantic-core (jiter) keeps the last of repeated members silently; the stdlib parser lets us see
# them, at a small share of a verify_event's cost (benchmarks/codec.py).
_MEMBER_CHECK = json.JSONDecoder(object_pairs_hook=_unique_members)


def _require_unique_members(data: bytes, what: str) -> None:
    try:
        _MEMBER_CHECK.decode(data.decode("utf-8"))
    except _RepeatedMemberError:
        raise MalformedEncodingError(f"{what} names an object member twice") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise MalformedEncodingError(f"{what} is not JSON the bus reads") from exc


def json_from_b64url(text: str, what: str) -> Any:
    """Strict JSON (as `json_loads`) from base64url `text`; `what` names it in the error."""
    return json_loads(b64url_decode(text), what)


def sd_digest_reference(encoded_disclosure: str) -> str:
    """RFC 9901 digest: sha-256 over the ASCII of the base64url-encoded disclosure."""
    return b64url_encode(hashlib.sha256(encoded_disclosure.encode("ascii")).digest())


# The same digest in one native call where native/ is built (5x faster; the enforcer takes ~12 per
# event); it too refuses a non-ASCII text with a ValueError. tests/unit/test_native_digest.py.
sd_digest: Callable[[str], str] = (
    native.govbus_native.sd_digest if native.NATIVE else sd_digest_reference
)
