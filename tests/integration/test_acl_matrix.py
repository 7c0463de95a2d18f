"""The ACL matrix over every principal of the reference policy set, on the real broker.

Each reference agency gets its own SCRAM user (a unique name, so reruns on one broker never share
credentials); ACLs are synced from the reference policy and every subscription its grants allow.
Then, for every consumer: its own delivery topic is readable, while every ingress topic, every other
delivery topic, the audit and quarantine topics are refused. For every agency: the ingress topics
of event types it is not an authentic source for are refused, and so are delivery and audit, and
other agencies' dead-letter and source-offsets topics.
"""

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest

from bus.control.acls import desired_acls, sync_acls
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import (
    AUDIT_TOPIC,
    QUARANTINE_TOPIC,
    dead_letter_topic,
    delivery_topic,
    ingress_topic,
    source_offsets_topic,
)
from bus.policy.documents import AgenciesFile
from bus.policy.engine import authorize_subscription
from bus.policy.facts import Subscription
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import Snapshot, compile_snapshot
from tests.support.kafka import (
    AuthorizationFailed,
    Principals,
    can_read,
    eventually,
    produce_one,
)

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
PARALLEL_ATTEMPTS = 16


@dataclasses.dataclass(frozen=True)
class Matrix:
    snapshot: Snapshot
    connections: dict[str, KafkaConnection]  # agency id -> its own credentials
    subscriptions: list[Subscription]

    def delivery_topics(self) -> dict[str, str]:
        return {delivery_topic(s.consumer, s.purpose): s.consumer for s in self.subscriptions}


@pytest.fixture
def matrix(principals: Principals, kafka_admin: KafkaAdmin) -> Matrix:
    policy_set = load_policy_set(REFERENCE)
    connections = {a.id: principals.create(a.id) for a in policy_set.agencies.agencies}
    agencies = tuple(
        a.model_copy(update={"kafka_principal": f"User:{connections[a.id].username}"})
        for a in policy_set.agencies.agencies
    )
    snapshot = compile_snapshot(
        dataclasses.replace(policy_set, agencies=AgenciesFile(agencies=agencies))
    )
    now = time.time()
    subscriptions = list(
        {
            Subscription(grant.consumer, event_type, grant.purpose)
            for grant in policy_set.grants.grants
            for event_type in grant.event_types
            if authorize_subscription(
                snapshot, grant.consumer, event_type, grant.purpose, now
            ).permitted
        }
    )
    matrix = Matrix(snapshot, connections, subscriptions)
    topics = [ingress_topic(t) for t in snapshot.authorities]
    own = [f(a) for a in connections for f in (dead_letter_topic, source_offsets_topic)]
    kafka_admin.ensure_topics(
        [*topics, *matrix.delivery_topics(), *own, AUDIT_TOPIC, QUARANTINE_TOPIC]
    )
    sync_acls(kafka_admin, desired_acls(snapshot, subscriptions, now))
    return matrix


async def test_every_principal_reaches_only_what_the_reference_policy_allows(
    matrix: Matrix, kafka_broker: KafkaConnection
) -> None:
    snapshot, connections = matrix.snapshot, matrix.connections
    deliveries = matrix.delivery_topics()
    assert len({consumer for consumer in deliveries.values()}) >= 6, "too few consumers to matter"
    sources = {
        (agency, t) for t, authorities in snapshot.authorities.items() for agency, _ in authorities
    }
    ingress = {t: ingress_topic(t) for t in snapshot.authorities}

    # Allowed: each consumer reads its own delivery topics; each source writes its own ingress.
    # (Reads write nothing: the reference consumers' delivery topics are shared with other tests.)
    for topic, consumer in deliveries.items():
        group = f"{consumer}.matrix"
        await eventually(partial(can_read, connections[consumer], topic, group))
    for agency, event_type in sorted(sources):
        await eventually(partial(produce_one, connections[agency], ingress[event_type], b"e"))

    # Refused: everything else, attempted by every agency.
    refused: list[tuple[str, Callable[[], Awaitable[object]]]] = []
    for agency, connection in connections.items():
        group = f"{agency}.matrix"
        readable = {t for t, c in deliveries.items() if c == agency}
        others = [
            f(a)
            for a in connections
            if a != agency
            for f in (dead_letter_topic, source_offsets_topic)
        ]
        for topic in [*ingress.values(), AUDIT_TOPIC, QUARANTINE_TOPIC, *deliveries, *others]:
            if topic not in readable:
                refused.append(
                    (f"{agency} reads {topic}", partial(can_read, connection, topic, group))
                )
        writable = {ingress[t] for a, t in sources if a == agency}
        for topic in [*ingress.values(), AUDIT_TOPIC, *deliveries, *others]:
            if topic not in writable:
                refused.append(
                    (f"{agency} writes {topic}", partial(produce_one, connection, topic, b"x"))
                )
    assert len(refused) > 1000

    gate = asyncio.Semaphore(PARALLEL_ATTEMPTS)

    async def attempt(action: Callable[[], Awaitable[object]]) -> bool:
        async with gate:
            try:
                await action()
            except AuthorizationFailed:
                return True
            return False

    outcomes = await asyncio.gather(*(attempt(action) for _, action in refused))
    let_through = [
        name for (name, _), was_refused in zip(refused, outcomes, strict=True) if not was_refused
    ]
    assert not let_through, f"the broker let these through: {let_through}"
