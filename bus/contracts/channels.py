"""What one consumer may subscribe to, per purpose: the policy engine decides, this only asks.

A channel is a delivery topic (one per consumer × purpose); its messages are the event types and
versions the consumer holds an open grant for, each with the fields the engine would release.
"""

from dataclasses import dataclass

from bus.catalog import CATALOG, Catalog, Event
from bus.contracts.errors import ContractError
from bus.kafka.topics import delivery_topic
from bus.policy.documents import Purpose
from bus.policy.engine import authorize_subscription, released_fields, still_open
from bus.policy.snapshot import Snapshot


@dataclass(frozen=True)
class ChannelMessage:
    """One event type and version as delivered on a channel. `released`: every field a delivery
    may disclose (the union over the channel's open grants); `always`: those every open grant
    releases, so each delivery discloses them (a producer discloses every field)."""

    event_class: type[Event]
    released: tuple[str, ...]
    always: tuple[str, ...]
    grant_ids: tuple[str, ...]


@dataclass(frozen=True)
class ConsumerChannel:
    """One delivery topic of a consumer: its purpose and the messages it carries."""

    consumer: str
    purpose: Purpose
    topic: str
    messages: tuple[ChannelMessage, ...]


def consumer_channels(
    snapshot: Snapshot, consumer: str, at: float, catalog: Catalog = CATALOG
) -> tuple[ConsumerChannel, ...]:
    """The channels `consumer` may subscribe to at `at` (epoch seconds), by purpose code.
    ContractError if the consumer is unknown or may subscribe to nothing."""
    if consumer not in snapshot.agencies:
        raise ContractError(f"{consumer!r} is not an agency of the policy set")
    by_purpose: dict[str, list[ChannelMessage]] = {}
    refused: list[str] = []
    for holder, event_type in sorted(snapshot.grants):
        if holder != consumer:
            continue
        grants = snapshot.grants[(holder, event_type)]
        for purpose in sorted({g.purpose for g in grants}):
            decision = authorize_subscription(snapshot, consumer, event_type, purpose, at)
            if not decision.permitted:
                reasons = ", ".join(r.value for r in decision.reasons)
                refused.append(f"{event_type} for {purpose}: {reasons}")
                continue
            open_grants = [g for g in grants if g.purpose == purpose and still_open(g, at)]
            messages = by_purpose.setdefault(purpose, [])
            for event_class in catalog.versions(event_type):
                present = event_class.field_names()
                doc = snapshot.purposes[purpose]
                per_grant = [set(released_fields(snapshot, g, doc, present)) for g in open_grants]
                union = set().union(*per_grant)
                messages.append(
                    ChannelMessage(
                        event_class,
                        tuple(f for f in present if f in union),
                        tuple(f for f in present if all(f in r for r in per_grant)),
                        tuple(g.id for g in open_grants),
                    )
                )
    if not by_purpose:
        why = f" ({'; '.join(refused)})" if refused else ""
        raise ContractError(f"{consumer} holds no grant it may subscribe with{why}")
    return tuple(
        ConsumerChannel(
            consumer, snapshot.purposes[code], delivery_topic(consumer, code), tuple(messages)
        )
        for code, messages in sorted(by_purpose.items())
    )
