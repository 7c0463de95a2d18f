"""Settings of the local broker, read from `BUS_KAFKA_*` environment variables with safe defaults."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.errors import ConfigError
from bus.util.environment_errors import variable_problems
from bus.util.paths import default_cache_dir, default_state_dir

Port = Annotated[int, Field(ge=1024, le=65535)]


class KafkaSettings(BaseSettings):
    """Where the broker listens, where it keeps its files, and the bus's admin principal.

    Default ports are 19092/19093 so that a Kafka already on 9092 is left alone.
    """

    model_config = SettingsConfigDict(env_prefix="BUS_KAFKA_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: Port = 19092
    controller_port: Port = 19093
    admin_user: str = Field(default="bus-admin", pattern=r"^[A-Za-z0-9._-]+$")
    # None: generated at format time and kept (mode 0600) in the state directory.
    admin_password: SecretStr | None = None
    state_dir: Path = Field(default_factory=lambda: default_state_dir() / "kafka")
    cache_dir: Path = Field(default_factory=lambda: default_cache_dir() / "kafka")
    heap: str = Field(default="768m", pattern=r"^\d+[mMgG]$")
    start_timeout_s: float = Field(default=120.0, gt=0)
    # TLS on the client and controller listeners (SASL_SSL). Off (BUS_KAFKA_TLS=0) only to measure
    # what TLS costs: passwords then cross the listeners in clear.
    tls: bool = True

    @property
    def bootstrap(self) -> str:
        """`host:port`, the address clients bootstrap from."""
        return f"{self.host}:{self.port}"

    @property
    def security_protocol(self) -> Literal["SASL_SSL", "SASL_PLAINTEXT"]:
        """What the broker's listeners speak, and so what its clients must."""
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    @property
    def data_dir(self) -> Path:
        """The broker's storage: every record of every topic."""
        return self.state_dir / "data"

    @property
    def log_dir(self) -> Path:
        """The broker's own logs."""
        return self.state_dir / "logs"

    @property
    def password_file(self) -> Path:
        """The admin password generated on first use, when `admin_password` is not set."""
        return self.state_dir / "admin.password"

    @property
    def profiles_dir(self) -> Path:
        """The connection profiles `bus kafka up` writes for the bus's services (and `bus agency
        onboard` for agencies): the default place every process looks for its own."""
        return self.state_dir / "profiles"

    @property
    def pid_file(self) -> Path:
        """The running broker's process id, written at start."""
        return self.state_dir / "broker.pid"


def load_kafka_settings(**overrides: object) -> KafkaSettings:
    """Read settings from the environment; an invalid value raises ConfigError naming the variable."""
    try:
        return KafkaSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = variable_problems(exc, "BUS_KAFKA_")
        raise ConfigError(
            f"invalid broker setting: {problems}. Fix the environment variable."
        ) from None
