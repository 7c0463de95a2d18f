"""One Strimzi `KafkaUser` per principal, with exactly the ACLs the bus grants it.

The service principals' ACLs are `service_acls()`; the agencies' are `desired_acls(...)`, what
`bus acl sync` applies for the same policy and subscriptions. Each user authenticates with
SCRAM-SHA-512 (Strimzi generates the password into a Secret named like the user) and is
authorised by Kafka's simple authoriser. The broker's admin is not among them: on Strimzi, the
cluster operator holds that role.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from bus.control.acls import desired_acls
from bus.control.service_principals import service_acls
from bus.control.strimzi.names import (
    API_VERSION,
    DEFAULT_CLUSTER,
    Manifest,
    metadata,
    user_resource_name,
)
from bus.kafka.admin import Acl, Operation, Resource
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot

# Strimzi's names (KafkaUser spec.authorization.acls[]) for the bus's resources and operations.
RESOURCE_TYPES = {
    Resource.TOPIC: "topic",
    Resource.GROUP: "group",
    Resource.TRANSACTIONAL_ID: "transactionalId",
    Resource.CLUSTER: "cluster",
}
OPERATIONS = {
    Operation.READ: "Read",
    Operation.WRITE: "Write",
    Operation.DESCRIBE: "Describe",
    Operation.CREATE: "Create",
    Operation.ALL: "All",
    Operation.IDEMPOTENT_WRITE: "IdempotentWrite",
    Operation.DELETE: "Delete",
    Operation.ALTER: "Alter",
    Operation.CLUSTER_ACTION: "ClusterAction",
    Operation.DESCRIBE_CONFIGS: "DescribeConfigs",
    Operation.ALTER_CONFIGS: "AlterConfigs",
}
# Kafka's one cluster resource; Strimzi's `cluster` resource carries no name.
CLUSTER_NAME = "kafka-cluster"

AclKey = tuple[Resource, str, bool, str, bool]  # resource, name, prefixed, host, allow


def kafka_users(
    snapshot: Snapshot,
    subscriptions: Iterable[Subscription],
    at: float,
    cluster: str = DEFAULT_CLUSTER,
) -> list[Manifest]:
    """A KafkaUser for each of the bus's services and each agency the policy and `subscriptions`
    give rights at `at` (epoch seconds), sorted by name; ConfigError for a principal that cannot
    be a Kubernetes name."""
    by_principal: dict[str, set[Acl]] = {p: set(a) for p, a in service_acls().items()}
    for acl in desired_acls(snapshot, subscriptions, at):
        by_principal.setdefault(acl.principal, set()).add(acl)
    return [kafka_user(p, acls, cluster) for p, acls in sorted(by_principal.items())]


def kafka_user(principal: str, acls: Iterable[Acl], cluster: str) -> Manifest:
    """The KafkaUser of `principal` (`User:<name>`) holding `acls`: one entry per resource, its
    operations together."""
    name = user_resource_name(principal.removeprefix("User:"))
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": metadata(name, cluster),
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": strimzi_acls(acls)},
        },
    }


def strimzi_acls(acls: Iterable[Acl]) -> list[Manifest]:
    """`acls` in Strimzi's schema, one entry per resource pattern, sorted."""
    grouped: dict[AclKey, set[Operation]] = {}
    for acl in acls:
        key = (acl.resource, acl.name, acl.prefixed, acl.host, acl.allow)
        grouped.setdefault(key, set()).add(acl.operation)
    entries = [_entry(key, ops) for key, ops in grouped.items()]
    return sorted(entries, key=repr)


def _entry(key: AclKey, operations: set[Operation]) -> dict[str, object]:
    resource, name, prefixed, host, allow = key
    pattern: dict[str, object] = {"type": RESOURCE_TYPES[resource]}
    if resource is not Resource.CLUSTER:
        pattern |= {"name": name, "patternType": "prefix" if prefixed else "literal"}
    entry: dict[str, object] = {
        "resource": pattern,
        "operations": sorted(OPERATIONS[o] for o in operations),
        "host": host,
    }
    if not allow:
        entry["type"] = "deny"
    return entry


def acls_of(user: Mapping[str, Any]) -> set[Acl]:
    """The ACLs a generated KafkaUser grants, back in the bus's form (for checks: `bus doctor`,
    the tests)."""
    principal = f"User:{user['metadata']['name']}"
    resources = {v: k for k, v in RESOURCE_TYPES.items()}
    operations = {v: k for k, v in OPERATIONS.items()}
    found: set[Acl] = set()
    for entry in user["spec"]["authorization"]["acls"]:
        pattern = entry["resource"]
        resource = resources[pattern["type"]]
        name = CLUSTER_NAME if resource is Resource.CLUSTER else pattern["name"]
        for op in entry["operations"]:
            found.add(
                Acl(
                    principal,
                    resource,
                    name,
                    operations[op],
                    prefixed=pattern.get("patternType") == "prefix",
                    host=entry.get("host", "*"),
                    allow=entry.get("type", "allow") == "allow",
                )
            )
    return found
