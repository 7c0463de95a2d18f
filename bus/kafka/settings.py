"""Settings of the local broker, read from `BUS_KAFKA_*` environment variables with safe defaults."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
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
    # Combined broker+controller nodes (`bus kafka up --nodes 3`); node N listens on port + 2(N-1)
    # and controller_port + 2(N-1). None: as many as the state directory was formatted for (one
    # if none yet), so that every command reaches every node of a running lab.
    nodes: int | None = Field(default=None, ge=1, le=3)  # 1 or 3: see _distinct_ports

    @model_validator(mode="after")
    def _distinct_ports(self) -> "KafkaSettings":
        ports = [
            p for n in self.node_ids for p in (self.node_port(n), self.node_controller_port(n))
        ]
        if len(set(ports)) != len(ports) or max(ports) > 65535:
            raise ValueError(
                f"the nodes' ports {sorted(ports)} collide or exceed 65535: node N listens on"
                " port + 2(N-1) and controller_port + 2(N-1), so choose controller_port ="
                " port + 1 (the default) or at least 2 × nodes away from port"
            )
        if self.nodes == 2:
            # Two voters survive no failure (a majority of two is two), and two replicas with
            # min.insync 1 would acknowledge writes one failure can lose.
            raise ValueError("2 nodes survive no failure; run 1 node, or 3")
        return self

    @property
    def node_count(self) -> int:
        """How many nodes the lab runs (one unless told or formatted otherwise)."""
        return self.nodes or 1

    @property
    def node_ids(self) -> range:
        """The nodes' ids, 1..node_count (each also its controller's voter id)."""
        return range(1, self.node_count + 1)

    def node_port(self, node_id: int) -> int:
        """Node `node_id`'s client listener port."""
        return self.port + 2 * (node_id - 1)

    def node_controller_port(self, node_id: int) -> int:
        """Node `node_id`'s controller listener port."""
        return self.controller_port + 2 * (node_id - 1)

    @property
    def bootstrap(self) -> str:
        """`host:port` of every node, comma-separated: the addresses clients bootstrap from."""
        return ",".join(f"{self.host}:{self.node_port(n)}" for n in self.node_ids)

    def node_home(self, node_id: int) -> Path:
        """Node `node_id`'s own files: the state directory itself for node 1 (so a single-node
        lab keeps its layout), `node-<id>/` in it for the others."""
        return self.state_dir if node_id == 1 else self.state_dir / f"node-{node_id}"

    def node_data_dir(self, node_id: int) -> Path:
        """Node `node_id`'s storage: every record of every partition it holds."""
        return self.node_home(node_id) / "data"

    def node_log_dir(self, node_id: int) -> Path:
        """Node `node_id`'s own logs."""
        return self.node_home(node_id) / "logs"

    def node_pid_file(self, node_id: int) -> Path:
        """Node `node_id`'s process id, written at its start."""
        return self.node_home(node_id) / "broker.pid"

    @property
    def nodes_file(self) -> Path:
        """How many nodes the storage was formatted for (a quorum's voters are fixed then)."""
        return self.state_dir / "nodes"

    @property
    def cluster_id_file(self) -> Path:
        """The cluster id every node's storage is formatted with."""
        return self.state_dir / "cluster.id"

    @property
    def security_protocol(self) -> Literal["SASL_SSL", "SASL_PLAINTEXT"]:
        """What the broker's listeners speak, and so what its clients must."""
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    @property
    def data_dir(self) -> Path:
        """Node 1's storage."""
        return self.node_data_dir(1)

    @property
    def log_dir(self) -> Path:
        """Node 1's logs."""
        return self.node_log_dir(1)

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
        """Node 1's process id."""
        return self.node_pid_file(1)


def load_kafka_settings(**overrides: object) -> KafkaSettings:
    """Read settings from the environment; an invalid value raises ConfigError naming the variable."""
    try:
        settings = KafkaSettings(**overrides)  # type: ignore[arg-type]
        if settings.nodes is None:  # as formatted: every node of a running lab
            formatted = formatted_nodes(settings)
            settings = KafkaSettings(**{**overrides, "nodes": formatted or 1})  # type: ignore[arg-type]
        return settings
    except ValidationError as exc:
        problems = variable_problems(exc, "BUS_KAFKA_")
        raise ConfigError(
            f"invalid broker setting: {problems}. Fix the environment variable or option."
        ) from None


def formatted_nodes(settings: KafkaSettings) -> int | None:
    """How many nodes the state directory's storage was formatted for; None if not yet. A lab
    formatted before clusters existed has no nodes file, only node 1's storage: one node."""
    try:
        return int(settings.nodes_file.read_text().strip())
    except (OSError, ValueError):
        return 1 if (settings.node_data_dir(1) / "meta.properties").exists() else None
