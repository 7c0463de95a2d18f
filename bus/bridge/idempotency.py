"""The idempotency key of a delivery over HTTP: the same for every attempt and every redelivery of
one event for one purpose, so a receiver that stores it once applies the event once."""

import hashlib
import json


def idempotency_key(source: str, event_id: str, purpose: str) -> str:
    """SHA-256 of the JSON array [source, event id, purpose], in hex. JSON, not a joined string:
    no choice of separator could be forged by an id that contains it."""
    triple = json.dumps([source, event_id, purpose], ensure_ascii=False).encode()
    return hashlib.sha256(triple).hexdigest()
