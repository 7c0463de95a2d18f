"""Who may ask the audit trail: bearer tokens with a role, kept as SHA-256 digests only.

`auditor` sees every decision; `agency-dpo` (an agency's data-protection officer) sees only the
decisions its agency produced or consumed.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from bus.envelope.attributes import format_time
from bus.errors import ConfigError
from bus.keys import AGENCY_ID_PATTERN
from bus.paths import default_state_dir
from bus.private_files import write_private


class Role(StrEnum):
    AUDITOR = "auditor"
    AGENCY_DPO = "agency-dpo"


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    agency: str | None

    @property
    def scope(self) -> str | None:
        """The agency whose decisions alone it sees; None: all."""
        return self.agency if self.role is Role.AGENCY_DPO else None


@dataclass(frozen=True)
class _Entry:
    name: str
    role: str
    agency: str | None
    sha256: str
    issued_at: str


def default_tokens_file() -> Path:
    return default_state_dir() / "audit" / "tokens.json"


class TokenRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path

    def issue(self, name: str, role: Role, agency: str | None = None) -> str:
        """A new token, returned once; only its digest is kept."""
        if (role is Role.AGENCY_DPO) != (agency is not None):
            raise ConfigError("an agency-dpo token needs --agency; an auditor token takes none")
        if agency is not None and not AGENCY_ID_PATTERN.match(agency):
            raise ConfigError(f"agency id {agency!r} is not one (a-z, 0-9 and '-')")
        entries = self._read()
        if any(e.name == name for e in entries):
            raise ConfigError(
                f"{self.path}: a token named {name!r} exists already; pick another name"
            )
        token = secrets.token_urlsafe(32)
        entries.append(
            _Entry(name, role.value, agency, _digest(token), format_time(datetime.now(UTC)))
        )
        write_private(self.path, json.dumps([asdict(e) for e in entries], indent=2) + "\n")
        return token

    def authenticate(self, token: str) -> Principal | None:
        digest = _digest(token)
        for entry in self._read():
            if hmac.compare_digest(entry.sha256, digest):
                return Principal(entry.name, Role(entry.role), entry.agency)
        return None

    def principals(self) -> list[tuple[Principal, str]]:
        """Every token holder, with when the token was issued."""
        return [(Principal(e.name, Role(e.role), e.agency), e.issued_at) for e in self._read()]

    def _read(self) -> list[_Entry]:
        if not self.path.exists():
            return []
        try:
            return [_Entry(**item) for item in json.loads(self.path.read_text())]
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{self.path}: not a token file bus wrote ({exc}); move it away and issue tokens "
                "again with `bus audit token issue`"
            ) from exc


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
