"""What the engine needs to know about an event: a small, flat summary the enforcer builds once."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bus.catalog import Event
from bus.catalog.event import Reporting

NATIONWIDE_SOURCE = Reporting(None)


@dataclass(frozen=True, slots=True)
class EventFacts:
    """One event as the engine sees it: its type, producer, field names, locations and whether
    its subject is under a disclosure block."""

    event_type: str
    producer: str
    fields: frozenset[str]
    # location name (see Event.locations) -> municipality code, None when abroad or unknown
    locations: Mapping[str, str | None]
    disclosure_blocked: bool
    # Which location's register must be the event's source (engine.authorize_producer)
    reporting: Reporting = NATIONWIDE_SOURCE


@dataclass(frozen=True, slots=True)
class Subscription:
    """A consumer's standing request: this event type, for this purpose."""

    consumer: str
    event_type: str
    purpose: str


def facts_of(event: Event, producer: str) -> EventFacts:
    """The facts of a typed `event` published by `producer`."""
    return facts_from_values(type(event), event.model_dump(), producer)


def facts_from_values(
    event_class: type[Event], values: Mapping[str, Any], producer: str
) -> EventFacts:
    """From field values (typed dumps or the JSON values of verified disclosures alike), so the
    enforcer need not rebuild and dump the whole model for every event."""
    return EventFacts(
        event_type=event_class.event_type,
        producer=producer,
        fields=frozenset(values),
        locations={name: _at(values, path) for name, path in event_class.locations.items()},
        disclosure_blocked=event_class.disclosure_blocked(values),
        reporting=event_class.reporting(values),
    )


def _at(values: Mapping[str, Any], dotted: str) -> str | None:
    current: Any = values
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or current.get(part) is None:
            return None
        current = current[part]
    return str(current)
