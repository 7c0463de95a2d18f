"""Standard Webhooks signatures (https://www.standardwebhooks.com), asymmetric: Ed25519 over
`<webhook-id>.<webhook-timestamp>.<body>`, sent as `webhook-signature: v1a,<base64>`.

The id is the delivery's idempotency key, so a retry carries the same id with a fresh timestamp
and signature; the receiver refuses a timestamp outside its tolerance, which bounds replays.
"""

import base64
import binascii
from collections.abc import Mapping

from bus.bridge.errors import BridgeError
from bus.keys import AgencySigningKey
from bus.keys.signature_check import SIGNATURE_BYTES, SignatureCheck

ID = "webhook-id"
TIMESTAMP = "webhook-timestamp"
SIGNATURE = "webhook-signature"
_ASYMMETRIC = "v1a"
# The spec's recommended tolerance either way: clocks drift, and replays must not last.
TOLERANCE_S = 300


class WebhookSignatureError(BridgeError):
    """A request's Standard Webhooks headers are missing, stale or do not verify."""


def signed_content(webhook_id: str, timestamp: int, body: bytes) -> bytes:
    """What is signed: the id, the timestamp (Unix seconds) and the body, joined by dots."""
    return f"{webhook_id}.{timestamp}.".encode() + body


def signature_headers(
    key: AgencySigningKey, webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers for one attempt to POST `body`."""
    signature = key.sign(signed_content(webhook_id, timestamp, body))
    return {
        ID: webhook_id,
        TIMESTAMP: str(timestamp),
        SIGNATURE: f"{_ASYMMETRIC},{base64.b64encode(signature).decode()}",
    }


def verify_signature(
    headers: Mapping[str, str],
    body: bytes,
    check: SignatureCheck,
    now: float,
    tolerance_s: int = TOLERANCE_S,
) -> str:
    """The webhook id of a request whose headers verify against the bridge's key `check` at time
    `now`; WebhookSignatureError if not. The signature header may list several space-separated
    signatures (a key rotation): one `v1a` that verifies is enough."""
    webhook_id, stamp, listed = (headers.get(n) for n in (ID, TIMESTAMP, SIGNATURE))
    if not webhook_id or not stamp or not listed:
        raise WebhookSignatureError(f"{ID}, {TIMESTAMP} and {SIGNATURE} are all required")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise WebhookSignatureError(f"{TIMESTAMP} {stamp[:20]!r} is not Unix seconds")
    if abs(now - int(stamp)) > tolerance_s:
        raise WebhookSignatureError(f"{TIMESTAMP} {stamp} is more than {tolerance_s}s off")
    message = signed_content(webhook_id, int(stamp), body)
    for candidate in listed.split(" "):
        version, _, encoded = candidate.partition(",")
        signature = _signature_bytes(encoded) if version == _ASYMMETRIC else None
        if signature is not None and check(message, signature):
            return webhook_id
    raise WebhookSignatureError(f"no {_ASYMMETRIC} signature in {SIGNATURE} verifies")


def _signature_bytes(encoded: str) -> bytes | None:
    """The 64 signature bytes; None for anything else (the check is handed only those)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SIGNATURE_BYTES else None
