"""An agency's own SCRAM credentials on the bus: created once by the bus admin (`bus agency
onboard`), kept in a 0600 file per agency, handed to that agency's services only."""

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.util.paths import default_state_dir
from bus.util.private_files import create_private

PASSWORD_SUFFIX = ".password"  # noqa: S105 - a file name suffix, not a secret


@dataclass(frozen=True)
class Credentials:
    """The agency's own SCRAM credentials on the bus."""

    username: str
    password: str = field(repr=False)


def default_credentials_dir() -> Path:
    """Where agencies' password files are kept unless a directory is given."""
    return default_state_dir() / "agencies"


def ensure_credentials(
    admin: KafkaAdmin, username: str, directory: Path | None = None
) -> Credentials:
    """The credentials of `username`, created on first use; the broker always learns the stored
    password (idempotent). Credentials are never deleted, only revoked (`bus agency offboard`):
    see deploy/kafka/README.md."""
    path = credentials_path(username, directory)
    if not path.exists():
        create_private(path, secrets.token_urlsafe(24).encode())
    credentials = load_credentials(username, directory)
    admin.upsert_scram_user(username, credentials.password)
    return credentials


def credentials_path(username: str, directory: Path | None = None) -> Path:
    """The password file of `username` in `directory` (default: `default_credentials_dir()`)."""
    return (directory or default_credentials_dir()) / f"{username}{PASSWORD_SUFFIX}"


def load_credentials(username: str, directory: Path | None = None) -> Credentials:
    """The stored credentials of `username`; ConfigError if there are none (not onboarded)."""
    path = credentials_path(username, directory)
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no credentials for {username!r}; run `bus agency onboard {username}` first"
        ) from None
    if not password:
        raise ConfigError(f"{path}: empty password file; delete it and run `bus agency onboard`")
    return Credentials(username, password)
