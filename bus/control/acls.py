"""Broker ACLs derived from the policy set and the subscriptions, and syncing them to the broker.

Producers may WRITE only the ingress topics of event types they are an authentic source for (plus
their own source-offsets topic and transactional ids); consumers may READ only their own delivery
topics and their own consumer groups (plus their own dead-letter topic, and WRITE on their own
erasures topic). Everything else
(ingress READ, delivery/quarantine/audit WRITE) is left to the bus principal, the only super user.
Sync revokes every other ALLOW an agency holds, whoever granted it.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from bus.control.service_principals import claimed_by_agencies, service_principals
from bus.errors import ConfigError
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.topics import (
    consumer_group_prefix,
    dead_letter_topic,
    delivery_topic,
    erasures_topic,
    ingress_topic,
    interest_topic,
    source_offsets_topic,
    transactional_id_prefix,
)
from bus.policy.engine import authorize_subscription
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot


def desired_acls(snapshot: Snapshot, subscriptions: Iterable[Subscription], at: float) -> set[Acl]:
    """The ACLs `snapshot` and `subscriptions` justify: each authorised producer's WRITE, each
    permitted subscriber's READ, each consumer's WRITE and READ on its interest marker topics.
    `at` (epoch seconds): a subscription whose grant was revoked or
    has expired by then gives its consumer no access, even while the subscription record still
    exists."""
    acls: set[Acl] = set()
    for event_type, authorities in snapshot.authorities.items():
        for agency_id, _territory in authorities:
            agency = snapshot.agencies.get(agency_id)
            if agency is not None:
                acls |= _producer_acls(agency.id, agency.kafka_principal, event_type)
    for subscription in subscriptions:
        agency = snapshot.agencies.get(subscription.consumer)
        if (
            agency is None
            or not authorize_subscription(
                snapshot, subscription.consumer, subscription.event_type, subscription.purpose, at
            ).permitted
        ):
            continue
        acls |= _consumer_acls(agency.id, agency.kafka_principal, subscription.purpose)
    for consumer, purpose in snapshot.requires_interest:
        agency = snapshot.agencies.get(consumer)
        if agency is not None:
            # Its own markers only: the topic names the consumer, so no agency can mark a person
            # for another; READ lets it list them (`bus interest list`), nothing else reads back.
            markers = interest_topic(consumer, purpose)
            acls |= {
                Acl(agency.kafka_principal, Resource.TOPIC, markers, Operation.WRITE),
                Acl(agency.kafka_principal, Resource.TOPIC, markers, Operation.READ),
            }
    return acls


def _producer_acls(agency: str, principal: str, event_type: str) -> set[Acl]:
    offsets = source_offsets_topic(agency)
    return {
        Acl(principal, Resource.TOPIC, ingress_topic(event_type), Operation.WRITE),
        # Its own progress topic and transactional ids: exactly-once publishing from a source.
        Acl(principal, Resource.TOPIC, offsets, Operation.WRITE),
        Acl(principal, Resource.TOPIC, offsets, Operation.READ),
        Acl(
            principal,
            Resource.TRANSACTIONAL_ID,
            transactional_id_prefix(agency),
            Operation.WRITE,
            prefixed=True,
        ),
    }


def _consumer_acls(agency: str, principal: str, purpose: str) -> set[Acl]:
    dead_letters = dead_letter_topic(agency)
    return {
        Acl(principal, Resource.TOPIC, delivery_topic(agency, purpose), Operation.READ),
        Acl(
            principal, Resource.GROUP, consumer_group_prefix(agency), Operation.READ, prefixed=True
        ),
        Acl(principal, Resource.TOPIC, dead_letters, Operation.WRITE),
        Acl(principal, Resource.TOPIC, dead_letters, Operation.READ),
        # Its erasure records: its own topic only, so it can speak for no other agency.
        Acl(principal, Resource.TOPIC, erasures_topic(agency), Operation.WRITE),
    }


@dataclass(frozen=True)
class AclChanges:
    """What `sync_acls` granted and revoked."""

    added: frozenset[Acl]
    removed: frozenset[Acl]


def sync_acls(admin: KafkaAdmin, desired: set[Acl]) -> AclChanges:
    """Make the broker's ACLs of every agency equal `desired`: add what is missing, remove every
    ALLOW the policy and subscriptions no longer justify (a revoked grant loses its READ at once),
    including those of principals that nothing names any more (an agency removed from the policy).

    Agencies are all principals but the bus's own (bus/control/service_principals.py), whose ACLs
    are left alone. DENY ACLs are kept: they only take access away. An offboarded agency (blocked)
    gets no ALLOW, even from a policy that still names it."""
    misplaced = claimed_by_agencies(acl.principal for acl in desired)
    planned = planned_acl_changes(admin, desired)
    added, removed = planned.added, planned.removed
    # Revocations first, and even when the policy is faulty: a refusal must never keep access.
    admin.delete_acls(removed)
    admin.create_acls(added)
    if misplaced:
        raise ConfigError(
            f"the policy gives an agency the bus's own principal {', '.join(misplaced)}: nothing "
            f"was granted to it ({len(removed)} unjustified ACLs revoked, {len(added)} granted "
            "to other agencies); give the agency its own kafka_principal (User:<agency id>)"
        )
    return AclChanges(added, removed)


def planned_acl_changes(admin: KafkaAdmin, desired: set[Acl]) -> AclChanges:
    """What `sync_acls` would grant and revoke now (changing nothing): agencies' ALLOWs only,
    none to a blocked agency or to a service principal."""
    services = service_principals()
    on_broker = admin.describe_acls_of(None)
    blocked = {acl.principal for acl in on_broker if acl in block_acls(acl.principal)}
    desired = {acl for acl in desired if acl.principal not in blocked | services}
    current = {acl for acl in on_broker if acl.allow and acl.principal not in services}
    return AclChanges(frozenset(desired - current), frozenset(current - desired))


def block_acls(principal: str) -> set[Acl]:
    """An offboarded agency's block: DENY everything ("*" is Kafka's wildcard resource name).
    A DENY outranks any ALLOW, so this also holds against ACLs granted by mistake."""
    return {
        Acl(principal, Resource.TOPIC, "*", Operation.ALL, allow=False),
        Acl(principal, Resource.GROUP, "*", Operation.ALL, allow=False),
        Acl(principal, Resource.TRANSACTIONAL_ID, "*", Operation.ALL, allow=False),
        Acl(principal, Resource.CLUSTER, "kafka-cluster", Operation.ALL, allow=False),
    }


def describe(acl: Acl) -> str:
    """One line per ACL for a terminal: `User:tax-by READ TOPIC bus.delivery.tax-by.tax`."""
    pattern = " (prefix)" if acl.prefixed else ""
    host = "" if acl.host == "*" else f" from {acl.host}"
    verb = "" if acl.allow else "DENY "
    what = f"{acl.resource.name} {acl.name}{pattern}{host}"
    return f"{acl.principal} {verb}{acl.operation.name} {what}"
