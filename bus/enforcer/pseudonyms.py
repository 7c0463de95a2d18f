"""Keyed pseudonyms of subject identifiers (HMAC-SHA-256): stable per audience, not reversible
without the key, so order and correlation per person hold without revealing who the person is."""

import hashlib
import hmac

from bus.util.encoding import b64url_encode


class Pseudonymizer:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the pseudonym key needs at least 32 bytes")
        self._secret = secret

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"

    def pseudonym(self, audience: str, subject: str) -> str:
        """`audience` separates domains (a consumer, or the audit trail): the same person gets
        unrelated pseudonyms in each, so two consumers cannot join their data on it."""
        digest = hmac.new(
            self._secret, f"{audience}\x00{subject}".encode(), hashlib.sha256
        ).digest()
        return "psn-" + b64url_encode(digest[:20])
