"""Ask the broker an authenticated metadata request: the only proof that it is up for clients."""

import logging
import socket
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from bus.kafka.connection import KafkaConnection

# librdkafka logs every refused connection while the broker boots; keep that out of the terminal.
_quiet = logging.getLogger("bus.kafka.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@dataclass(frozen=True)
class ClusterInfo:
    """What a metadata request tells: the cluster's id, its brokers and its topics (internal
    `__…` topics not counted)."""

    cluster_id: str
    broker_ids: tuple[int, ...]
    topic_count: int

    @property
    def broker_count(self) -> int:
        """How many brokers the metadata lists (those registered and not fenced)."""
        return len(self.broker_ids)


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether anything accepts a TCP connection on `host`:`port` within `timeout_s` (not proof
    that a broker serves clients there: see `metadata`)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def metadata(connection: KafkaConnection, timeout_s: float = 5.0) -> ClusterInfo | None:
    """Cluster metadata fetched with the given credentials, or None if the broker did not answer."""
    admin = AdminClient(connection.confluent_config(), logger=_quiet)
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return None
    return ClusterInfo(
        cluster_id=str(meta.cluster_id),
        broker_ids=tuple(sorted(meta.brokers)),
        topic_count=len([t for t in meta.topics if not t.startswith("__")]),
    )
