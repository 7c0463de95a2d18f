"""Administrative operations as the bus admin: topics, SCRAM users and ACLs (via librdkafka)."""

import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from bus.errors import BrokerError
from bus.kafka.connection import KafkaConnection

_TIMEOUT_S = 30.0
_NEW_TOPIC_WAIT_S = 10.0
# librdkafka's own log lines (a connection closed by a restarting broker, a purged queue at exit)
# go to Python logging rather than straight to stderr: informational ones are then not printed
# over a command's output unless logging is configured to show them.
_LIBRDKAFKA_LOG = logging.getLogger("bus.kafka.admin.librdkafka")
# Kafka's default; stronger than the 4096 minimum, still cheap for a handful of logins.
SCRAM_ITERATIONS = 8192


class Resource(Enum):
    """The kinds of resource an ACL names (CLUSTER is librdkafka's BROKER type)."""

    TOPIC = ResourceType.TOPIC
    GROUP = ResourceType.GROUP
    TRANSACTIONAL_ID = ResourceType.TRANSACTIONAL_ID
    CLUSTER = ResourceType.BROKER


class Operation(Enum):
    """What an ACL allows or denies on its resource."""

    READ = AclOperation.READ
    WRITE = AclOperation.WRITE
    DESCRIBE = AclOperation.DESCRIBE
    CREATE = AclOperation.CREATE
    ALL = AclOperation.ALL
    IDEMPOTENT_WRITE = AclOperation.IDEMPOTENT_WRITE
    # Never granted by the bus; listed so that ACL sync sees (and can revoke) hand-made grants.
    DELETE = AclOperation.DELETE
    ALTER = AclOperation.ALTER
    CLUSTER_ACTION = AclOperation.CLUSTER_ACTION
    DESCRIBE_CONFIGS = AclOperation.DESCRIBE_CONFIGS
    ALTER_CONFIGS = AclOperation.ALTER_CONFIGS


@dataclass(frozen=True)
class Acl:
    """ALLOW (or, with allow=False, DENY) `operation` on `resource` named `name` (or every name
    starting with it) to `principal`. A DENY overrides any ALLOW."""

    principal: str
    resource: Resource
    name: str
    operation: Operation
    prefixed: bool = False
    host: str = "*"
    allow: bool = True

    @property
    def _permission(self) -> AclPermissionType:
        return AclPermissionType.ALLOW if self.allow else AclPermissionType.DENY

    def binding_filter(self) -> AclBindingFilter:
        """A filter matching exactly this ACL, for deleting it."""
        pattern = ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL
        return AclBindingFilter(
            self.resource.value,
            self.name,
            pattern,
            self.principal,
            self.host,
            self.operation.value,
            self._permission,
        )

    def binding(self) -> AclBinding:
        """This ACL as librdkafka's binding, for creating it."""
        pattern = ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL
        return AclBinding(
            self.resource.value,
            self.name,
            pattern,
            self.principal,
            self.host,
            self.operation.value,
            self._permission,
        )


def _filter_for(principal: str | None) -> AclBindingFilter:
    # None matches any name/host; librdkafka accepts it though the stubs say str.
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        principal,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _differs(current: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return any(current.get(k) != v for k, v in wanted.items())


def _acl_from_binding(binding: AclBinding) -> Acl | None:
    resources = {r.value: r for r in Resource}
    operations = {o.value: o for o in Operation}
    if binding.permission_type not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
        return None
    if binding.restype not in resources or binding.operation not in operations:
        return None
    return Acl(
        principal=binding.principal,
        resource=resources[binding.restype],
        name=binding.name,
        operation=operations[binding.operation],
        prefixed=binding.resource_pattern_type == ResourcePatternType.PREFIXED,
        host=binding.host,
        allow=binding.permission_type == AclPermissionType.ALLOW,
    )


class _UnknownTopicError(Exception):
    """A topic the answering broker does not know (yet, if it was just created)."""

    def __init__(self, topic: str, cause: object) -> None:
        super().__init__(topic)
        self.topic, self.cause = topic, cause


class KafkaAdmin:
    """Thin, blocking wrapper that turns librdkafka futures into results or one BrokerError.

    `connection`: the principal it acts as; creating topics, users and ACLs takes the operator's
    (bus/control/service_principals.py), or the broker's admin in the lab.
    """

    def __init__(self, connection: KafkaConnection) -> None:
        self._client = AdminClient(connection.confluent_config(), logger=_LIBRDKAFKA_LOG)

    def create_topics(
        self, names: Iterable[str], partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        """Create the topics `names` with `partitions` partitions each and `config`, replicated as
        the cluster is configured (`default.replication.factor`, `min.insync.replicas`: the lab
        sets them by its size, bus/kafka/replication.py, and deploy/kubernetes by the same rule);
        returns once the broker lists them. An existing name is a BrokerError, and so is a
        creation while too few brokers are up for the configured replicas: refused, to be retried,
        rather than made with fewer copies for good (as counting the brokers up now would)."""
        topics = [
            NewTopic(n, partitions, replication_factor=-1, config=dict(config or {})) for n in names
        ]
        self._wait(
            "create topics", self._client.create_topics(topics, operation_timeout=_TIMEOUT_S)
        )
        # The controller acknowledges before the broker's metadata cache knows the topic; callers
        # use it at once, so wait until the broker lists it.
        wanted = {t.topic for t in topics}
        deadline = time.monotonic() + _TIMEOUT_S
        while not wanted <= self.list_topics():
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"created topics not visible after {_TIMEOUT_S:.0f} s: {sorted(wanted)}"
                )
            time.sleep(0.05)

    def broker_count(self) -> int:
        """How many brokers the cluster's metadata lists now."""
        try:
            return len(self._client.list_topics(timeout=_TIMEOUT_S).brokers)
        except KafkaException as exc:
            raise BrokerError(f"could not read the cluster's metadata: {exc.args[0]}") from exc

    def replication_factors(self) -> dict[str, int]:
        """Each topic's replication factor (the replicas of its first partition)."""
        try:
            topics = self._client.list_topics(timeout=_TIMEOUT_S).topics
        except KafkaException as exc:
            raise BrokerError(f"could not list topics: {exc.args[0]}") from exc
        return {
            name: len(meta.partitions[0].replicas)
            for name, meta in topics.items()
            if meta.error is None and 0 in meta.partitions
        }

    def under_replicated(self) -> dict[str, list[int]]:
        """Topic → its partitions with fewer in-sync replicas than replicas."""
        try:
            topics = self._client.list_topics(timeout=_TIMEOUT_S).topics
        except KafkaException as exc:
            raise BrokerError(f"could not list topics: {exc.args[0]}") from exc
        found: dict[str, list[int]] = {}
        for name, meta in topics.items():
            short = [p.id for p in meta.partitions.values() if len(p.isrs) < len(p.replicas)]
            if short:
                found[name] = sorted(short)
        return found

    def ensure_topics(
        self, names: Iterable[str], partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> list[str]:
        """Create those of `names` that do not exist yet; returns the ones created."""
        missing = sorted(set(names) - self.list_topics())
        if missing:
            self.create_topics(missing, partitions, config)
        return missing

    def delete_topics(self, names: Iterable[str]) -> None:
        """Delete the topics `names`; one that does not exist is a BrokerError."""
        self._wait(
            "delete topics", self._client.delete_topics(list(names), operation_timeout=_TIMEOUT_S)
        )

    def end_offsets(self, topic: str, partitions: int, *, committed_only: bool) -> dict[int, int]:
        """Per partition: the last stable offset (committed_only) or the high watermark.
        They differ exactly while a transaction on that partition is open."""
        isolation = (
            IsolationLevel.READ_COMMITTED if committed_only else IsolationLevel.READ_UNCOMMITTED
        )
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        request = {TopicPartition(topic, p): latest for p in range(partitions)}
        futures = self._client.list_offsets(
            request, isolation_level=isolation, request_timeout=_TIMEOUT_S
        )
        try:
            return {tp.partition: f.result(_TIMEOUT_S).offset for tp, f in futures.items()}
        except KafkaException as exc:
            raise BrokerError(f"could not list offsets of {topic}: {exc.args[0]}") from exc

    def committed_offsets(self, group: str) -> dict[tuple[str, int], int]:
        """The offsets `group` has committed, per (topic, partition); empty before its first commit."""
        futures = self._client.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=_TIMEOUT_S
        )
        try:
            listing = futures[group].result(_TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(
                f"could not list the offsets of group {group}: {exc.args[0]}"
            ) from exc
        return {
            (tp.topic, tp.partition): tp.offset for tp in listing.topic_partitions if tp.offset >= 0
        }

    def topic_config(self, topic: str) -> dict[str, str]:
        """The topic's effective configuration (its own settings over the broker's defaults)."""
        return self.topic_configs([topic])[topic]

    def topic_configs(self, topics: Iterable[str]) -> dict[str, dict[str, str]]:
        """Each topic's effective configuration, asked in one request (none: nothing is sent).
        A topic just created may be unknown for a moment to the broker that answers (on a
        cluster, not the one that listed it): asked again for up to _NEW_TOPIC_WAIT_S."""
        names = list(topics)
        deadline = time.monotonic() + _NEW_TOPIC_WAIT_S
        while True:
            try:
                return self._topic_configs(names)
            except _UnknownTopicError as exc:
                if time.monotonic() > deadline:
                    raise BrokerError(
                        f"could not describe topic {exc.topic}: {exc.cause}"
                    ) from None
                time.sleep(0.2)

    def _topic_configs(self, topics: list[str]) -> dict[str, dict[str, str]]:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
        if not resources:
            return {}
        futures = self._client.describe_configs(resources, request_timeout=_TIMEOUT_S)
        found = {}
        for resource, future in futures.items():
            try:
                entries = future.result(_TIMEOUT_S)
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise _UnknownTopicError(resource.name, exc.args[0]) from exc
                raise BrokerError(
                    f"could not describe topic {resource.name}: {exc.args[0]}"
                ) from exc
            found[resource.name] = {name: entry.value for name, entry in entries.items()}
        return found

    def alter_topic_configs(self, changes: Mapping[str, Mapping[str, str]]) -> None:
        """Set, per topic, the given settings (incrementally: its other settings stay)."""
        resources = [
            ConfigResource(
                ConfigResource.Type.TOPIC,
                topic,
                incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                    for k, v in config.items()
                ],
            )
            for topic, config in changes.items()
            if config
        ]
        if resources:
            self._wait(
                "alter topic config",
                self._client.incremental_alter_configs(resources, request_timeout=_TIMEOUT_S),
            )

    def ensure_topic_config(self, names: Iterable[str], config: Mapping[str, str]) -> list[str]:
        """Give existing topics `config` where their settings differ (topics created before a
        limit was introduced); returns the names changed."""
        changed = [n for n in sorted(set(names)) if _differs(self.topic_config(n), config)]
        self.alter_topic_configs({n: config for n in changed})
        return changed

    def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has; 0 if it does not exist."""
        try:
            metadata = self._client.list_topics(topic, timeout=_TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(f"could not describe topic {topic}: {exc.args[0]}") from exc
        found = metadata.topics.get(topic)
        return 0 if found is None or found.error is not None else len(found.partitions)

    def grow_partitions(self, topic: str, total: int) -> None:
        """Give `topic` `total` partitions (Kafka only adds partitions, never removes them)."""
        self._wait(
            "add partitions",
            self._client.create_partitions(
                [NewPartitions(topic, total)], operation_timeout=_TIMEOUT_S
            ),
        )

    def list_topics(self) -> set[str]:
        """The names of every topic on the broker, internal ones (`__consumer_offsets`) included."""
        try:
            return set(self._client.list_topics(timeout=_TIMEOUT_S).topics)
        except KafkaException as exc:
            raise BrokerError(f"could not list topics: {exc.args[0]}") from exc

    def broker_endpoints(self) -> dict[int, tuple[str, int]]:
        """Each broker's id → the host and port it advertises to clients."""
        try:
            brokers = self._client.list_topics(timeout=_TIMEOUT_S).brokers
        except KafkaException as exc:
            raise BrokerError(f"could not read the cluster's metadata: {exc.args[0]}") from exc
        return {b.id: (str(b.host), b.port) for b in brokers.values()}

    def broker_config(self, broker_id: int) -> dict[str, str | None]:
        """One broker's configuration as it reports it (secrets come back as None)."""
        resource = ConfigResource(ConfigResource.Type.BROKER, str(broker_id))
        futures = self._client.describe_configs([resource], request_timeout=_TIMEOUT_S)
        try:
            entries = futures[resource].result(_TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(
                f"could not describe broker {broker_id}'s configuration: {exc.args[0]}"
            ) from exc
        return {name: entry.value for name, entry in entries.items()}

    def upsert_scram_user(self, username: str, password: str) -> None:
        """Create `username`'s SCRAM-SHA-512 credential with `password`, or replace it."""
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        change = UserScramCredentialUpsertion(username, info, password.encode())
        self._wait("create SCRAM user", self._client.alter_user_scram_credentials([change]))

    def has_scram_user(self, username: str) -> bool:
        """Whether the broker holds a SCRAM credential for `username` (a revoked one counts)."""
        futures = self._client.describe_user_scram_credentials([username])
        assert isinstance(futures, dict)  # a list of users gives one future per user
        try:
            futures[username].result(timeout=_TIMEOUT_S)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.RESOURCE_NOT_FOUND:
                return False
            raise BrokerError(f"could not describe user {username}: {exc.args[0]}") from exc
        return True

    def revoke_scram_user(self, username: str) -> None:
        """Lock a principal out by overwriting its credential with a secret nobody holds.

        Deliberately not a deletion: on Kafka 3.9 to 4.4 in KRaft, once a SCRAM credential has been
        deleted and any later metadata record follows, the next broker restart rejects every SCRAM
        login, the admin's included (see deploy/kafka/README.md). Overwriting has no such effect.
        """
        self.upsert_scram_user(username, secrets.token_urlsafe(32))

    def create_acls(self, acls: Iterable[Acl]) -> None:
        """Add `acls` to the broker (none: nothing is sent)."""
        bindings = [acl.binding() for acl in acls]
        if bindings:
            self._wait(
                "create ACLs", self._client.create_acls(bindings, request_timeout=_TIMEOUT_S)
            )

    def describe_acls_of(self, principal: str | None) -> set[Acl]:
        """The ACLs naming `principal` (None: every principal) that this module can express
        (others are ignored)."""
        match = _filter_for(principal)
        try:
            bindings = self._client.describe_acls(match, request_timeout=_TIMEOUT_S).result(
                _TIMEOUT_S
            )
        except KafkaException as exc:
            raise BrokerError(
                f"could not describe ACLs of {principal or 'all principals'}: {exc.args[0]}"
            ) from exc
        found = set()
        for b in bindings:
            acl = _acl_from_binding(b)
            if acl is not None:
                found.add(acl)
        return found

    def delete_acls(self, acls: Iterable[Acl]) -> None:
        """Remove exactly these `acls` (none: nothing is sent)."""
        filters = [acl.binding_filter() for acl in acls]
        if filters:
            self._wait("delete ACLs", self._client.delete_acls(filters, request_timeout=_TIMEOUT_S))

    def delete_acls_of(self, principal: str) -> None:
        """Remove every ACL that names this principal."""
        self._wait(
            "delete ACLs",
            self._client.delete_acls([_filter_for(principal)], request_timeout=_TIMEOUT_S),
        )

    @staticmethod
    def _wait(what: str, futures: Mapping[Any, Any]) -> None:
        for key, future in futures.items():
            try:
                future.result(timeout=_TIMEOUT_S)
            except KafkaException as exc:
                raise BrokerError(f"could not {what} ({key}): {exc.args[0]}") from exc
