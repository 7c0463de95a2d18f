"""Kubernetes names and labels of the Strimzi resources the bus generates."""

import hashlib
import re
from typing import Any

from bus.errors import ConfigError

API_VERSION = "kafka.strimzi.io/v1"
CLUSTER_LABEL = "strimzi.io/cluster"
DEFAULT_CLUSTER = "govbus"
# A Kubernetes resource as it is written out: nested mappings, lists and scalars.
Manifest = dict[str, Any]
# A DNS-1123 subdomain: what Kubernetes requires of metadata.name (KafkaUser, KafkaTopic).
_SUBDOMAIN = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_MAX_NAME = 253
_DIGEST_CHARS = 8


def is_resource_name(name: str) -> bool:
    """Whether `name` is a valid metadata.name (DNS-1123 subdomain, at most 253 characters)."""
    return len(name) <= _MAX_NAME and _SUBDOMAIN.fullmatch(name) is not None


def topic_resource_name(topic: str) -> str:
    """The KafkaTopic metadata.name for the Kafka topic `topic` (whose real name goes in
    spec.topicName): `topic` itself when valid; else lowercased, other characters replaced by
    `-`, and a digest of the real name appended, so that two topics differing only in case or
    punctuation never share a resource."""
    if is_resource_name(topic):
        return topic
    base = re.sub(r"[^a-z0-9.-]+", "-", topic.lower()).strip(".-") or "topic"
    digest = hashlib.sha256(topic.encode()).hexdigest()[:_DIGEST_CHARS]
    return f"{base[: _MAX_NAME - _DIGEST_CHARS - 1]}-{digest}"


def user_resource_name(username: str) -> str:
    """The KafkaUser metadata.name for SCRAM user `username`: Strimzi takes the user's name from
    it, so it cannot be rewritten; ConfigError if it is not a valid Kubernetes name."""
    if not is_resource_name(username):
        raise ConfigError(
            f"principal User:{username} cannot be a Strimzi KafkaUser: its name must be a "
            "Kubernetes name (lowercase a-z 0-9 . -); give the agency such a kafka_principal"
        )
    return username


def metadata(name: str, cluster: str) -> dict[str, object]:
    """A resource's metadata: its name and the label that ties it to the Kafka cluster."""
    return {"name": name, "labels": {CLUSTER_LABEL: cluster}}
