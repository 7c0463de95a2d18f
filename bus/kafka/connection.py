"""How a client reaches the broker: bootstrap address and SCRAM credentials, for both client libraries."""

from dataclasses import dataclass, field
from typing import Any

SCRAM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaConnection:
    """One principal's way in. The password is kept out of repr so it never lands in a log."""

    bootstrap: str
    username: str
    password: str = field(repr=False)

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": SCRAM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def confluent_config(self) -> dict[str, str | int | float | bool]:
        """Configuration for confluent-kafka (librdkafka) clients."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": SCRAM,
            "sasl.username": self.username,
            "sasl.password": self.password,
        }

    def as_user(self, username: str, password: str) -> "KafkaConnection":
        """The same broker, reached as another principal."""
        return KafkaConnection(self.bootstrap, username, password)
