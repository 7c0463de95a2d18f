"""The connection profile: how one process reaches the bus, and as whom.

Every service, both SDKs and the operator's commands connect through one: a TOML file (keys as in
the table of docs/connection-profile.md) and/or `BUS_*` variables, which override the file's
values. Which file: `--profile FILE`, else `$BUS_PROFILE`, else the role's default
(`var/profiles/<role>.toml`, which the lab's `bus kafka up` writes). A relative path inside a file
is relative to that file. The password comes from `password_file` (0600, as a secret mounted into
a container is) or, less safely, from `password`/`BUS_PASSWORD`.
"""

import os
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bus.errors import ConfigError
from bus.kafka.connection import KafkaConnection, SecurityProtocol
from bus.kafka.settings import load_kafka_settings
from bus.util.private_files import write_private

PROFILE_VARIABLE = "BUS_PROFILE"
_PREFIX = "BUS_"
_HOST_PORT = r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$"


class ConnectionProfile(BaseSettings):
    """One principal's way to the bus; see docs/connection-profile.md for each key."""

    model_config = SettingsConfigDict(env_prefix=_PREFIX, frozen=True, extra="forbid")

    bootstrap_servers: Annotated[list[Annotated[str, Field(pattern=_HOST_PORT)]], NoDecode]
    principal: str = Field(pattern=r"^(User:)?[A-Za-z0-9._-]+$")
    password: SecretStr | None = None
    password_file: Path | None = None
    security_protocol: SecurityProtocol = "SASL_SSL"
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Variables over the file's values (passed as init arguments); no dotenv, no secrets dir."""
        return env_settings, init_settings

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return (
            [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value
        )

    @model_validator(mode="after")
    def _consistent(self) -> "ConnectionProfile":
        if not self.bootstrap_servers:
            raise ValueError("bootstrap_servers: name at least one host:port")
        if (self.password is None) == (self.password_file is None):
            raise ValueError("give exactly one of password_file (preferred) and password")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError(
                "client_cert_file and client_key_file go together: give both or neither"
            )
        if self.security_protocol != "SASL_SSL" and (self.ca_file or self.client_cert_file):
            raise ValueError("ca_file and client certificates need security_protocol SASL_SSL")
        return self

    @property
    def username(self) -> str:
        """The SCRAM user name (the principal without `User:`)."""
        return self.principal.removeprefix("User:")


def default_profile_path(role: str) -> Path:
    """Where the lab keeps `role`'s profile: `var/kafka/profiles/<role>.toml` (beside the broker
    whose users they name, so `bus kafka reset` removes them with the users)."""
    return load_kafka_settings().profiles_dir / f"{role}.toml"


def load_profile(role: str, path: Path | None = None) -> KafkaConnection:
    """The connection of `role` (e.g. "enforcer") from `path`, else $BUS_PROFILE, else the role's
    default file, each overridden by BUS_* variables. ConfigError names the file or variable, the
    key and what to do."""
    chosen = path or _from_environment() or default_profile_path(role)
    values = _read_file(chosen) if chosen.exists() or path or _from_environment() else {}
    if not values and not os.environ.get(f"{_PREFIX}BOOTSTRAP_SERVERS"):
        raise ConfigError(
            f"no connection profile for the {role}: {chosen} does not exist. Pass --profile FILE or"
            f" set {PROFILE_VARIABLE} (see docs/connection-profile.md); in this repository's lab,"
            " `bus kafka up` writes one for each of the bus's services"
        )
    source = str(chosen) if values else "BUS_* variables"
    try:
        profile = ConnectionProfile(**values)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid connection profile: {_problems(exc)}") from None
    return _connection(profile, source)


def write_profile(path: Path, connection: KafkaConnection, password_file: Path) -> None:
    """Write `connection` as a profile at `path` (0600), its password kept in `password_file`
    (0600), which this writes too."""
    write_private(password_file, connection.password + "\n")
    lines = {
        "bootstrap_servers": connection.bootstrap,
        "principal": connection.username,
        "password_file": str(password_file),
        "security_protocol": connection.security_protocol,
        "ca_file": str(connection.ca_file) if connection.ca_file else None,
        "client_cert_file": str(connection.client_cert_file)
        if connection.client_cert_file
        else None,
        "client_key_file": str(connection.client_key_file) if connection.client_key_file else None,
    }
    body = "".join(f"{k} = {_toml_string(v)}\n" for k, v in lines.items() if v is not None)
    write_private(path, "# A connection profile (docs/connection-profile.md).\n" + body)


def _from_environment() -> Path | None:
    value = os.environ.get(PROFILE_VARIABLE)
    return Path(value) if value else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such connection profile; check --profile or {PROFILE_VARIABLE}"
        ) from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable TOML connection profile: {exc}") from None
    for key in ("password_file", "ca_file", "client_cert_file", "client_key_file"):
        if isinstance(values.get(key), str):
            values[key] = str(path.parent / Path(values[key]).expanduser())
    if isinstance(values.get("bootstrap_servers"), list):
        values["bootstrap_servers"] = ",".join(str(s) for s in values["bootstrap_servers"])
    return values


def _connection(profile: ConnectionProfile, source: str) -> KafkaConnection:
    for key in ("ca_file", "client_cert_file", "client_key_file"):
        file = getattr(profile, key)
        if file is not None and not file.is_file():
            raise ConfigError(f"{source}: {key} {file} does not exist; fix the path")
    return KafkaConnection(
        ",".join(profile.bootstrap_servers),
        profile.username,
        _password(profile, source),
        profile.security_protocol,
        profile.ca_file,
        profile.client_cert_file,
        profile.client_key_file,
    )


def _password(profile: ConnectionProfile, source: str) -> str:
    if profile.password is not None:
        return profile.password.get_secret_value()
    file = profile.password_file
    assert file is not None  # the model validator demands one of the two
    try:
        mode = file.stat().st_mode
        password = file.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{source}: password_file {file} cannot be read: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{source}: password_file {file} is open to other users; `chmod 600 {file}`"
        )
    if not password:
        raise ConfigError(f"{source}: password_file {file} is empty")
    return password


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'profile'}: {err['msg']}" for err in exc.errors()
    )


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
