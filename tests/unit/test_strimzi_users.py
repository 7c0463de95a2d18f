"""The generated KafkaUsers grant exactly what the bus grants: the services' ACLs as
`service_acls()` says, each agency's as `bus acl sync` applies them (`desired_acls`) for the same
policy and subscriptions, compared in one plain form read straight from Strimzi's schema."""

from datetime import UTC, datetime
from typing import Any

import pytest

from bus.control.acls import desired_acls
from bus.control.service_principals import service_acls
from bus.control.strimzi.names import CLUSTER_LABEL, is_resource_name
from bus.control.strimzi.state import every_grant
from bus.control.strimzi.users import acls_of, kafka_user, kafka_users
from bus.errors import ConfigError
from bus.kafka.admin import Acl
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from tests.support.policy_sets import REFERENCE

NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
SNAPSHOT = compile_snapshot(REFERENCE)
Plain = tuple[str, str, str, str, str]  # principal, resource type, name, pattern, operation

# Kafka's names for the resource types and operations (as `kafka-acls.sh` prints them).
_KAFKA_TYPES = {"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactionalId"}


def plain_of_bus(acls: set[Acl]) -> set[Plain]:
    """The bus's ACLs in the common form (all ALLOW from any host: checked here)."""
    assert all(a.allow and a.host == "*" for a in acls)
    return {
        (
            a.principal,
            _KAFKA_TYPES.get(a.resource.name, "cluster"),
            "kafka-cluster" if a.resource.name == "CLUSTER" else a.name,
            "prefix" if a.prefixed else "literal",
            a.operation.name.replace("_", "").lower(),
        )
        for a in acls
    }


def plain_of_users(users: list[dict[str, Any]]) -> set[Plain]:
    """The KafkaUsers' ACLs in the common form, read from Strimzi's schema as written."""
    found: set[Plain] = set()
    for user in users:
        principal = f"User:{user['metadata']['name']}"
        for entry in user["spec"]["authorization"]["acls"]:
            assert entry["host"] == "*"
            assert entry.get("type", "allow") == "allow"
            resource = entry["resource"]
            name = resource.get("name", "kafka-cluster")
            pattern = resource.get("patternType", "literal")
            for op in entry["operations"]:
                found.add((principal, resource["type"], name, pattern, op.lower()))
    return found


def _agency_users(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    services = {p.removeprefix("User:") for p in service_acls()}
    return [u for u in users if u["metadata"]["name"] not in services]


@pytest.mark.parametrize(
    "subscriptions",
    [
        frozenset(),
        every_grant(SNAPSHOT),
        frozenset({Subscription("tax-by", "population.AddressChanged", "tax-residence")}),
    ],
    ids=["no subscriptions", "every grant", "one subscription"],
)
def test_agencies_users_grant_exactly_what_acl_sync_applies(
    subscriptions: frozenset[Subscription],
) -> None:
    users = kafka_users(SNAPSHOT, subscriptions, NOW)
    expected = desired_acls(SNAPSHOT, subscriptions, NOW)
    assert expected  # the reference set's producers write from the start
    assert plain_of_users(_agency_users(users)) == plain_of_bus(expected)


def test_service_users_hold_exactly_service_acls() -> None:
    users = kafka_users(SNAPSHOT, every_grant(SNAPSHOT), NOW)
    services = [u for u in users if u not in _agency_users(users)]
    expected = service_acls()
    assert {f"User:{u['metadata']['name']}" for u in services} == set(expected)
    assert plain_of_users(services) == plain_of_bus(set().union(*expected.values()))


def test_one_user_per_principal_with_what_strimzi_requires() -> None:
    users = kafka_users(SNAPSHOT, every_grant(SNAPSHOT), NOW, "prod")
    names = [u["metadata"]["name"] for u in users]
    assert len(names) == len(set(names))
    principals = {a.principal for a in desired_acls(SNAPSHOT, every_grant(SNAPSHOT), NOW)}
    assert {f"User:{n}" for n in names} == principals | set(service_acls())
    for user in users:
        assert user["apiVersion"] == "kafka.strimzi.io/v1"
        assert user["kind"] == "KafkaUser"
        assert is_resource_name(user["metadata"]["name"])
        assert user["metadata"]["labels"] == {CLUSTER_LABEL: "prod"}
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"


def test_a_revoked_subscription_grants_no_read() -> None:
    # A subscription the policy does not permit (no grant for the purpose): no consumer rights.
    refused = frozenset({Subscription("tax-by", "population.AddressChanged", "no-such-purpose")})
    users = kafka_users(SNAPSHOT, refused, NOW)
    reads = {p for p in plain_of_users(users) if p[0] == "User:tax-by" and p[4] == "read"}
    assert reads == set()


def test_acls_of_reads_back_what_kafka_user_wrote() -> None:
    subscriptions = every_grant(SNAPSHOT)
    users = kafka_users(SNAPSHOT, subscriptions, NOW)
    read_back = set().union(*(acls_of(u) for u in users))
    expected = desired_acls(SNAPSHOT, subscriptions, NOW) | set().union(*service_acls().values())
    assert read_back == expected


def test_a_principal_that_is_no_kubernetes_name_is_refused() -> None:
    # Strimzi names the SCRAM user after metadata.name: such a principal cannot be rewritten.
    with pytest.raises(ConfigError, match="Kubernetes name"):
        kafka_user("User:Odd_Agency", set(), "govbus")
