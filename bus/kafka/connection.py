"""How a client reaches the broker: bootstrap servers, SCRAM credentials and, over TLS, the CA it
trusts (and optionally its own certificate), for both client libraries."""

import ssl
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context

SCRAM = "SCRAM-SHA-512"
SecurityProtocol = Literal["SASL_SSL", "SASL_PLAINTEXT"]


@dataclass(frozen=True)
class KafkaConnection:
    """One principal's way in. The password is kept out of repr so it never lands in a log.

    `bootstrap` is one `host:port` or several, comma-separated. Over `SASL_SSL` the broker's
    certificate is verified against `ca_file` (None: the system's trusted CAs) and its host name;
    `client_cert_file` and `client_key_file` (both or neither) present a certificate of our own.
    """

    bootstrap: str
    username: str
    password: str = field(repr=False)
    security_protocol: SecurityProtocol = "SASL_PLAINTEXT"
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    @property
    def bootstrap_servers(self) -> list[str]:
        """The bootstrap servers as a list."""
        return [s.strip() for s in self.bootstrap.split(",") if s.strip()]

    @property
    def uses_tls(self) -> bool:
        """Whether the connection is encrypted (and the broker authenticated by its certificate)."""
        return self.security_protocol == "SASL_SSL"

    @cached_property
    def _ssl_context(self) -> ssl.SSLContext:
        # One context per connection: reading the CA file once, not per client.
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(self.ca_file) if self.ca_file else None,
            certfile=str(self.client_cert_file) if self.client_cert_file else None,
            keyfile=str(self.client_key_file) if self.client_key_file else None,
        )
        return context

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": SCRAM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }
        if self.uses_tls:
            kwargs["ssl_context"] = self._ssl_context
        return kwargs

    def confluent_config(self) -> dict[str, str | int | float | bool]:
        """Configuration for confluent-kafka (librdkafka) clients."""
        config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": ",".join(self.bootstrap_servers),
            "security.protocol": self.security_protocol,
            "sasl.mechanism": SCRAM,
            "sasl.username": self.username,
            "sasl.password": self.password,
        }
        if self.uses_tls:
            config["ssl.endpoint.identification.algorithm"] = "https"
            if self.ca_file:
                config["ssl.ca.location"] = str(self.ca_file)
            if self.client_cert_file and self.client_key_file:
                config["ssl.certificate.location"] = str(self.client_cert_file)
                config["ssl.key.location"] = str(self.client_key_file)
        return config

    def as_user(self, username: str, password: str) -> "KafkaConnection":
        """The same broker, reached the same way, as another principal."""
        return replace(self, username=username, password=password)

    def to_json_dict(self) -> dict[str, str | None]:
        """Everything needed to connect, for handing to a child process (it holds the password:
        write it to a private file only)."""
        return {
            "bootstrap": self.bootstrap,
            "username": self.username,
            "password": self.password,
            "security_protocol": self.security_protocol,
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "client_cert_file": str(self.client_cert_file) if self.client_cert_file else None,
            "client_key_file": str(self.client_key_file) if self.client_key_file else None,
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "KafkaConnection":
        """The inverse of `to_json_dict`."""
        protocol: SecurityProtocol = (
            "SASL_SSL" if data.get("security_protocol") == "SASL_SSL" else "SASL_PLAINTEXT"
        )
        return cls(
            str(data["bootstrap"]),
            str(data["username"]),
            str(data["password"]),
            protocol,
            *(Path(data[k]) if data.get(k) else None for k in _FILE_KEYS),
        )


_FILE_KEYS = ("ca_file", "client_cert_file", "client_key_file")
