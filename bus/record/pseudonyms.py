"""Keyed pseudonyms of subject identifiers (HMAC-SHA-256), and the key they are made with.

A pseudonym is stable per audience and not reversible without the key, so order and correlation
per person hold without revealing who the person is. The enforcer makes the key on its first start
(`ensure_pseudonym_key`); the audit trail only reads it (`load_pseudonymizer`), since a new key
there would make every query by subject quietly find nothing.
"""

import hmac
import secrets
from pathlib import Path

from bus.errors import ConfigError
from bus.util.encoding import b64url_encode
from bus.util.paths import default_state_dir
from bus.util.private_files import create_private

PSEUDONYM_KEY_BYTES = 32


class Pseudonymizer:
    """Makes pseudonyms under one secret key of at least PSEUDONYM_KEY_BYTES bytes."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < PSEUDONYM_KEY_BYTES:
            raise ValueError(f"the pseudonym key needs at least {PSEUDONYM_KEY_BYTES} bytes")
        self._secret = secret

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"

    def pseudonym(self, audience: str, subject: str) -> str:
        """`audience` separates domains (a consumer, or the audit trail: AUDIT_AUDIENCE in
        bus/record/audit_record.py): the same person gets unrelated pseudonyms in each, so two
        consumers cannot join their data on it."""
        # The one-shot hmac.digest (OpenSSL's, ~4x faster than an hmac.new object): per event.
        digest = hmac.digest(self._secret, f"{audience}\x00{subject}".encode(), "sha256")
        return "psn-" + b64url_encode(digest[:20])


def default_pseudonym_key_file() -> Path:
    """Where the enforcer keeps the key and the audit trail finds it: the state directory's
    keys/pseudonym.key."""
    return default_state_dir() / "keys" / "pseudonym.key"


def ensure_pseudonym_key(path: Path) -> bytes:
    """The key in `path`, created there first (0600) if there is none; kept apart from any data
    store. The enforcer's: it is the one that makes pseudonyms first."""
    if not path.exists():
        create_private(path, secrets.token_bytes(PSEUDONYM_KEY_BYTES))
    return path.read_bytes()


def load_pseudonymizer(path: Path | None = None) -> Pseudonymizer:
    """The enforcer's key in `path` (default: `default_pseudonym_key_file()`), read, never made.
    A missing key is a ConfigError, not a new key: a new key would make every query by subject
    quietly find nothing."""
    path = path or default_pseudonym_key_file()
    try:
        return Pseudonymizer(path.read_bytes())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: the pseudonym key is missing; it is the enforcer's (made by its first run), "
            "and queries by subject need the same key"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
