"""What the engine needs to know about an event: a small, flat summary the enforcer builds once."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bus.catalog import Event


@dataclass(frozen=True, slots=True)
class EventFacts:
    event_type: str
    producer: str
    fields: frozenset[str]
    # location name (see Event.locations) -> municipality code, None when abroad or unknown
    locations: Mapping[str, str | None]
    disclosure_blocked: bool


@dataclass(frozen=True, slots=True)
class Subscription:
    """A consumer's standing request: this event type, for this purpose."""

    consumer: str
    event_type: str
    purpose: str


def facts_of(event: Event, producer: str) -> EventFacts:
    values = event.model_dump()
    return EventFacts(
        event_type=event.event_type,
        producer=producer,
        fields=frozenset(event.field_names()),
        locations={name: _at(values, path) for name, path in event.locations.items()},
        disclosure_blocked=bool(
            event.disclosure_block_field and getattr(event, event.disclosure_block_field)
        ),
    )


def _at(values: Mapping[str, Any], dotted: str) -> str | None:
    current: Any = values
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or current.get(part) is None:
            return None
        current = current[part]
    return str(current)
