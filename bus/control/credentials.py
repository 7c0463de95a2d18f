"""An agency's own SCRAM credentials on the bus: created once by the bus's operator (`bus agency
onboard`), kept in a 0600 file per agency beside the agency's connection profile
(`var/agencies/<agency>.toml`, docs/connection-profile.md), handed to that agency's services only.

The profile lives beside the password, not among the services' profiles (var/kafka/profiles/), so
that no agency id can ever name a service's profile file.
"""

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import PROFILE_VARIABLE, load_profile, write_profile
from bus.util.paths import default_state_dir
from bus.util.private_files import create_private

PASSWORD_SUFFIX = ".password"  # noqa: S105 - a file name suffix, not a secret
PROFILE_SUFFIX = ".toml"


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


def agency_profile_path(agency: str, directory: Path | None = None) -> Path:
    """The connection profile `bus agency onboard` writes for `agency`, beside its password."""
    return (directory or default_credentials_dir()) / f"{agency}{PROFILE_SUFFIX}"


def write_agency_profile(
    operator: KafkaConnection, credentials: Credentials, directory: Path | None = None
) -> Path:
    """Write the agency's profile: the bootstrap servers, security protocol and CA of the
    operator's `operator` connection (never its client certificate), the agency's own principal
    and password file. Returns the profile's path."""
    own = replace(
        operator.as_user(credentials.username, credentials.password),
        client_cert_file=None,
        client_key_file=None,
    )
    path = agency_profile_path(credentials.username, directory)
    write_profile(path, own, credentials_path(credentials.username, directory))
    return path


def load_agency_profile(agency: str, path: Path | None = None) -> KafkaConnection:
    """The connection of `agency`'s own process: `path` (--profile), else $BUS_PROFILE, else the
    profile `bus agency onboard` wrote (var/agencies/<agency>.toml); BUS_* variables override."""
    if path is None and not os.environ.get(PROFILE_VARIABLE):
        path = agency_profile_path(agency)
        if not path.exists():
            raise ConfigError(
                f"{path}: no connection profile for {agency!r}; run `bus agency onboard {agency}`"
                f" (as the bus's operator), or pass --profile FILE or set {PROFILE_VARIABLE}"
            )
    return load_profile(agency, path)
