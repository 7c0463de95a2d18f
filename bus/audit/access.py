"""Who may ask the audit trail: bearer tokens with a role and a lifetime, kept as SHA-256 digests.

`auditor` sees every decision; `agency-dpo` (an agency's data-protection officer) sees what
bus/audit/scope.py allows it. A token expires (90 days unless issued otherwise) and can be
revoked; either way it is refused from then on. Revoked tokens stay listed, for the record.
"""

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from bus.envelope.attributes import format_time, parse_time
from bus.errors import BusError, ConfigError
from bus.keys import AGENCY_ID_PATTERN
from bus.util.paths import default_state_dir
from bus.util.private_files import write_private

DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=730)
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


class Role(StrEnum):
    """What a token's holder may see: every decision (auditor), or one agency's (agency-dpo)."""

    AUDITOR = "auditor"
    AGENCY_DPO = "agency-dpo"


@dataclass(frozen=True)
class Principal:
    """Who a valid token names: its name, role, and the agency of an agency-dpo token."""

    name: str
    role: Role
    agency: str | None

    @property
    def scope(self) -> str | None:
        """The agency whose data-protection officer it is; None: an auditor, who sees all."""
        return self.agency if self.role is Role.AGENCY_DPO else None


@dataclass(frozen=True)
class TokenHolder:
    """A token as the registry lists it: whom it names, when it was issued, when it expires and
    whether and when it was revoked."""

    principal: Principal
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def refusal(self, now: datetime) -> str | None:
        """Why the token no longer opens anything; None while it does."""
        if self.revoked_at is not None:
            return f"token {self.principal.name!r} was revoked at {format_time(self.revoked_at)}"
        if now >= self.expires_at:
            return f"token {self.principal.name!r} expired at {format_time(self.expires_at)}"
        return None


class TokenRefusedError(BusError):
    """Not a token, or no longer one: the message says which (never echoing the token)."""


@dataclass(frozen=True)
class _Entry:
    name: str
    role: str
    agency: str | None
    sha256: str
    issued_at: str
    expires_at: str | None = None  # files written before tokens expired: issued_at + default
    revoked_at: str | None = None

    def holder(self) -> TokenHolder:
        issued = parse_time(self.issued_at)
        expires = parse_time(self.expires_at) if self.expires_at else issued + DEFAULT_LIFETIME
        revoked = parse_time(self.revoked_at) if self.revoked_at else None
        return TokenHolder(
            Principal(self.name, Role(self.role), self.agency), issued, expires, revoked
        )


def default_tokens_file() -> Path:
    """Where the token registry lives by default: `<state>/audit/tokens.json`."""
    return default_state_dir() / "audit" / "tokens.json"


class TokenRegistry:
    """The auditor API's tokens, in one JSON file holding their SHA-256 digests (mode 0600,
    replaced whole on each change). Read afresh on every call, so an issue or a revocation holds
    for the next request.

    Parameters:
        path: the token file; missing until the first token is issued.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def issue(
        self,
        name: str,
        role: Role,
        agency: str | None = None,
        lifetime: timedelta = DEFAULT_LIFETIME,
        now: datetime | None = None,
    ) -> str:
        """A new token, returned once; only its digest is kept."""
        if not TOKEN_NAME.fullmatch(name):
            raise ConfigError(
                f"token name {name[:80]!r}: 1-64 of A-Z, a-z, 0-9, '.', '_', '-', "
                "starting with a letter or digit"
            )
        if (role is Role.AGENCY_DPO) != (agency is not None):
            raise ConfigError("an agency-dpo token needs --agency; an auditor token takes none")
        if agency is not None and not AGENCY_ID_PATTERN.match(agency):
            raise ConfigError(f"agency id {agency[:80]!r} is not one (a-z, 0-9 and '-')")
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise ConfigError(f"a token lives more than 0 and at most {MAX_LIFETIME.days} days")
        entries = self._read()
        if any(e.name == name for e in entries):
            raise ConfigError(
                f"{self.path}: a token named {name!r} exists already; pick another name"
            )
        token = secrets.token_urlsafe(32)
        issued = now or datetime.now(UTC)
        expires = format_time(issued + lifetime)
        entries.append(
            _Entry(name, role.value, agency, _digest(token), format_time(issued), expires)
        )
        self._write(entries)
        return token

    def revoke(self, name: str, now: datetime | None = None) -> None:
        """Revoke the token named `name` at `now`; ConfigError if there is none or it already
        was revoked. It stays listed."""
        entries = self._read()
        found = next((e for e in entries if e.name == name), None)
        if found is None:
            raise ConfigError(
                f"{self.path}: no token named {name[:80]!r} (see bus audit token list)"
            )
        if found.revoked_at is not None:
            raise ConfigError(f"token {name!r} was revoked already, at {found.revoked_at}")
        revoked = _Entry(**{**asdict(found), "revoked_at": format_time(now or datetime.now(UTC))})
        self._write([revoked if e is found else e for e in entries])

    def revoke_agency(self, agency: str, now: datetime | None = None) -> list[str]:
        """Revoke every live agency-dpo token of `agency` (its offboarding); returns their names."""
        at = now or datetime.now(UTC)
        entries = self._read()
        names = [
            e.name
            for e in entries
            if e.agency == agency and e.role == Role.AGENCY_DPO and e.holder().refusal(at) is None
        ]
        if names:
            self._write(
                [
                    _Entry(**{**asdict(e), "revoked_at": format_time(at)}) if e.name in names else e
                    for e in entries
                ]
            )
        return names

    def authenticate(self, token: str, now: datetime) -> Principal:
        """Whom `token` names; TokenRefusedError if it is unknown, expired or revoked at `now`."""
        digest = _digest(token)
        for entry in self._read():
            if hmac.compare_digest(entry.sha256, digest):
                holder = entry.holder()
                refusal = holder.refusal(now)
                if refusal is not None:
                    raise TokenRefusedError(f"{refusal}; ask for a new one")
                return holder.principal
        raise TokenRefusedError("a valid bearer token is needed")

    def holders(self) -> list[TokenHolder]:
        """Every token issued, with when it was issued, expires or was revoked."""
        return [e.holder() for e in self._read()]

    def _read(self) -> list[_Entry]:
        if not self.path.exists():
            return []
        try:
            entries = [_Entry(**item) for item in json.loads(self.path.read_text())]
            for entry in entries:
                entry.holder()  # its times and role parse
            return entries
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{self.path}: not a token file bus wrote ({exc}); move it away and issue tokens "
                "again with `bus audit token issue`"
            ) from exc

    def _write(self, entries: list[_Entry]) -> None:
        # Whole or not at all: the API reads the file on every request.
        draft = self.path.with_name(f".{self.path.name}.new")
        write_private(draft, json.dumps([asdict(e) for e in entries], indent=2) + "\n")
        os.replace(draft, self.path)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
