"""Broker ACLs derived from the policy set and the subscriptions, and syncing them to the broker.

Producers may WRITE only the ingress topics of event types they are an authentic source for (plus
their own source-offsets topic and transactional ids); consumers may READ only their own delivery
topics and their own consumer groups (plus their own dead-letter topic). Everything else
(ingress READ, delivery/quarantine/audit WRITE) is left to the bus principal, the only super user.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.topics import (
    consumer_group_prefix,
    dead_letter_topic,
    delivery_topic,
    ingress_topic,
    source_offsets_topic,
    transactional_id_prefix,
)
from policies.engine import authorize_subscription
from policies.facts import Subscription
from policies.snapshot import Snapshot


def desired_acls(snapshot: Snapshot, subscriptions: Iterable[Subscription], at: float) -> set[Acl]:
    """`at` (epoch seconds): a subscription whose grant was revoked or has expired by then gives
    its consumer no access, even while the subscription record still exists."""
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
    return acls


def _producer_acls(agency: str, principal: str, event_type: str) -> set[Acl]:
    offsets = source_offsets_topic(agency)
    return {
        Acl(principal, Resource.TOPIC, ingress_topic(event_type), Operation.WRITE),
        # Its own progress topic and transactional ids: exactly-once publishing from a source.
        Acl(principal, Resource.TOPIC, offsets, Operation.WRITE),
        Acl(principal, Resource.TOPIC, offsets, Operation.READ),
        Acl(
            principal, Resource.TRANSACTIONAL_ID, transactional_id_prefix(agency),
            Operation.WRITE, prefixed=True,
        ),
    }  # fmt: skip


def _consumer_acls(agency: str, principal: str, purpose: str) -> set[Acl]:
    dead_letters = dead_letter_topic(agency)
    return {
        Acl(principal, Resource.TOPIC, delivery_topic(agency, purpose), Operation.READ),
        Acl(
            principal, Resource.GROUP, consumer_group_prefix(agency), Operation.READ, prefixed=True
        ),
        Acl(principal, Resource.TOPIC, dead_letters, Operation.WRITE),
        Acl(principal, Resource.TOPIC, dead_letters, Operation.READ),
    }


@dataclass(frozen=True)
class AclChanges:
    added: frozenset[Acl]
    removed: frozenset[Acl]


def sync_acls(
    admin: KafkaAdmin, desired: set[Acl], managed_principals: Iterable[str]
) -> AclChanges:
    """Make the broker's ACLs of `managed_principals` equal `desired`: add what is missing, remove
    what no longer follows from policy (a revoked grant loses its READ at once)."""
    principals = set(managed_principals) | {acl.principal for acl in desired}
    current = {acl for principal in principals for acl in admin.describe_acls_of(principal)}
    added, removed = desired - current, current - desired
    admin.create_acls(added)
    admin.delete_acls(removed)
    return AclChanges(frozenset(added), frozenset(removed))
