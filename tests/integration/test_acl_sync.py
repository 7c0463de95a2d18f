"""Broker-enforced isolation from synced ACLs: each principal reaches exactly what policy allows;
revoking a subscription removes the consumer's access."""

import time
from collections.abc import Awaitable, Callable, Iterable

import pytest

from bus.control.acls import desired_acls, sync_acls
from bus.kafka.admin import Acl, KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import delivery_topic, ingress_topic
from bus.policy.documents import ProducerAuthority
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from tests.support.kafka import (
    AuthorizationFailed,
    Principals,
    consume_one,
    eventually,
    produce_one,
)
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"


async def test_synced_acls_isolate_agencies_and_revocation_removes_access(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    topic_factory: Callable[..., str],
) -> None:
    muni, tax, elect = (principals.create(p) for p in ("muni", "tax", "elect"))
    snapshot = compile_snapshot(
        policy_set(
            agencies=(
                agency(muni.username, "09162000", "population-register"),
                agency(tax.username, "09", "taxation"),
                agency(elect.username, "09162000", "elections"),
            ),
            purposes=(purpose("tax", "taxation"), purpose("elections", "elections")),
            grants=(
                grant("g-tax", tax.username, "tax"),
                grant("g-elect", elect.username, "elections"),
            ),
            producers=(
                ProducerAuthority(agency=muni.username, event_types=(TYPE,), territory="09162000"),
            ),
        )
    )
    subscriptions = [
        Subscription(tax.username, TYPE, "tax"),
        Subscription(elect.username, TYPE, "elections"),
    ]
    ingress = ingress_topic(TYPE)
    kafka_admin.ensure_topics([ingress])
    tax_topic = topic_factory(name=delivery_topic(tax.username, "tax"))
    elect_topic = topic_factory(name=delivery_topic(elect.username, "elections"))
    for topic in (tax_topic, elect_topic):
        await produce_one(kafka_broker, topic, b"delivered by the bus")

    ours = {f"User:{p.username}" for p in (muni, tax, elect)}
    changes = sync_acls(kafka_admin, desired_acls(snapshot, subscriptions, time.time()))
    # producer: 4; each of two consumers: 5 (delivery READ, group, dead letters READ and WRITE,
    # erasures WRITE)
    assert len(_of(changes.added, ours)) == 4 + 5 + 5
    assert not _of(changes.removed, ours)

    await eventually(lambda: produce_one(muni, ingress, b"an event"))
    await eventually(lambda: consume_one(tax, tax_topic, group=f"{tax.username}.back-office"))
    # Everything else is refused by the broker itself.
    refused: list[Callable[[], Awaitable[object]]] = [
        lambda: produce_one(muni, tax_topic, b"bypassing the bus"),
        lambda: produce_one(tax, ingress, b"forged source"),
        lambda: consume_one(tax, ingress, group=f"{tax.username}.g"),
        lambda: consume_one(tax, elect_topic, group=f"{tax.username}.g"),
        lambda: consume_one(elect, tax_topic, group=f"{elect.username}.g"),
        lambda: consume_one(tax, tax_topic, group=f"{elect.username}.stolen-group"),
    ]
    for attempt in refused:
        with pytest.raises(AuthorizationFailed):
            await attempt()

    # Revoke the tax office's subscription: its READ goes, the electoral office keeps its own.
    changes = sync_acls(kafka_admin, desired_acls(snapshot, subscriptions[1:], time.time()))
    assert {acl.principal for acl in _of(changes.removed, ours)} == {f"User:{tax.username}"}
    assert not _of(changes.added, ours)
    for _ in range(20):
        try:
            await consume_one(tax, tax_topic, group=f"{tax.username}.back-office-2")
        except AuthorizationFailed:
            break
    else:
        pytest.fail("the revoked consumer could still read its delivery topic")
    assert (
        await consume_one(elect, elect_topic, group=f"{elect.username}.g")
        == b"delivered by the bus"
    )


def _of(acls: Iterable[Acl], principals: set[str]) -> set[Acl]:
    """The ACLs of this test's principals (a sync also tidies what other tests left behind)."""
    return {acl for acl in acls if acl.principal in principals}
