"""The files a broker start needs: admin password, server.properties, logging config."""

import re
import secrets
from pathlib import Path
from string import Template

from bus.devenv.certs import ca_cert_path, node_keystore_path
from bus.errors import ConfigError
from bus.kafka.replication import replication_for
from bus.kafka.settings import KafkaSettings
from bus.util.paths import DEPLOY_DIR
from bus.util.private_files import write_private

SERVER_TEMPLATE = DEPLOY_DIR / "kafka" / "server.properties.in"
LOG4J_CONFIG = DEPLOY_DIR / "kafka" / "log4j2.properties"
# Kept to characters that need no quoting in JAAS and in StorageTool's --add-scram syntax.
_SAFE_PASSWORD = re.compile(r"^[A-Za-z0-9_-]{12,}$")


def admin_password(settings: KafkaSettings) -> str:
    """The admin password: from BUS_KAFKA_ADMIN_PASSWORD, else the one generated on first use."""
    if settings.admin_password is not None:
        password = settings.admin_password.get_secret_value()
    elif settings.password_file.exists():
        password = settings.password_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(24)
        write_private(settings.password_file, password + "\n")
    if not _SAFE_PASSWORD.match(password):
        raise ConfigError(
            "BUS_KAFKA_ADMIN_PASSWORD (or "
            f"{settings.password_file}): use at least 12 characters of A-Z a-z 0-9 _ -"
        )
    return password


def render_server_properties(settings: KafkaSettings, password: str, node_id: int = 1) -> Path:
    """Fill deploy/kafka/server.properties.in for node `node_id` and write it into the node's
    directory (0600: it holds the password). With TLS on, the node's certificate files must exist
    (bus/devenv/certs.py makes them)."""
    replication = replication_for(settings.node_count)
    voters = ",".join(
        f"{n}@{settings.host}:{settings.node_controller_port(n)}" for n in settings.node_ids
    )
    text = Template(SERVER_TEMPLATE.read_text()).substitute(
        security_protocol=settings.security_protocol,
        tls_settings=tls_settings(settings, node_id),
        node_id=node_id,
        voters=voters,
        host=settings.host,
        port=settings.node_port(node_id),
        controller_port=settings.node_controller_port(node_id),
        admin_user=settings.admin_user,
        admin_password=password,
        data_dir=settings.node_data_dir(node_id),
        replication_factor=replication.factor,
        min_insync=replication.min_insync,
    )
    target = server_properties_path(settings, node_id)
    write_private(target, text)
    return target


def server_properties_path(settings: KafkaSettings, node_id: int) -> Path:
    """Where node `node_id`'s rendered configuration is kept."""
    return settings.node_home(node_id) / "server.properties"


def tls_settings(settings: KafkaSettings, node_id: int) -> str:
    """The broker's `ssl.*` lines: its own key and certificate chain and the CA it trusts as the
    client of its peers (inter-broker and controller links), all PEM files Kafka reads as they are.
    Clients present no certificate: SCRAM (or PLAIN on the controller link) authenticates them."""
    if not settings.tls:
        return "# TLS is off (BUS_KAFKA_TLS=0): for measuring its cost only; passwords travel in clear."
    lines = [
        "# TLS on both listeners: this node's certificate, signed by the lab CA (bus kafka certs).",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={node_keystore_path(settings, node_id)}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={ca_cert_path(settings)}",
        "ssl.client.auth=none",
        "ssl.endpoint.identification.algorithm=https",
        "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
    ]
    return "\n".join(lines)
