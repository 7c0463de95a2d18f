"""What a handler sees: the delivery's envelope attributes, and `data`, a read-only view of the
fields released to this consumer and purpose, typed as the handler declares.

`ReleasedEvent[AddressChanged]` types `event.data` as the event model: every field of the type
checks under mypy, and a field the grant withholds raises WithheldFieldError when read. For the
withheld fields to be visible to mypy as well, declare a per-grant view that `bus sdk views`
generates from the policy (`ReleasedEvent[AddressChangedForTaxResidence]`): a Protocol with
exactly the released fields, so reading a withheld one is a type error before it is a dead
letter. Every value was verified against the producer's signature before the view was built.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from bus.catalog import Event
from consumers.errors import WithheldFieldError

# Covariant: `data` is read-only, so a delivery of AddressChanged is also one of any view of it.
E = TypeVar("E", covariant=True)

# The envelope attributes a handler may read; listed in errors for names that are none of them.
ATTRIBUTES = ("id", "event_type", "source", "time", "purpose", "data")


class ReleasedEvent(Generic[E]):
    """One verified delivery. Attributes: `id` (the producer's event id: `event.id`, not
    `event_id`), `event_type`, `source` (the producing agency), `time` (when it happened),
    `purpose` (the purpose it was delivered for) and `data` (the released fields, typed as E).

    The consumer SDK builds it (or `consumers.testing.released` in a test); handlers only read it.
    """

    __slots__ = (
        "_consumer",
        "_event_class",
        "_fields",
        "event_type",
        "id",
        "purpose",
        "source",
        "time",
    )

    id: str
    event_type: str
    source: str
    time: datetime
    purpose: str
    _consumer: str
    _event_class: type[Event]
    _fields: dict[str, Any]

    def __init__(
        self,
        *,
        event_id: str,
        event_class: type[Event],
        source: str,
        time: datetime,
        consumer: str,
        purpose: str,
        fields: Mapping[str, Any],
    ) -> None:
        set_ = object.__setattr__
        set_(self, "id", event_id)
        set_(self, "event_type", event_class.event_type)
        set_(self, "source", source)
        set_(self, "time", time)
        set_(self, "purpose", purpose)
        set_(self, "_consumer", consumer)
        set_(self, "_event_class", event_class)
        set_(self, "_fields", dict(fields))

    @property
    def data(self) -> E:
        """The released fields: `event.data.new_address.street`. A withheld field of the event
        type raises WithheldFieldError; a name the type does not have, AttributeError."""
        return cast(E, ReleasedFields(self))

    def field(self, name: str) -> Any:
        """A field by name, as `data` reads it."""
        if name in self._fields:
            return self._fields[name]
        if name in self._event_class.model_fields:
            raise WithheldFieldError(self.event_type, name, self._consumer, self.purpose)
        raise AttributeError(
            f"{self.event_type} has no field {name!r} (a delivery's own attributes are "
            f"{', '.join(ATTRIBUTES)})"
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a released event is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a released event is read-only")

    @property
    def released_fields(self) -> tuple[str, ...]:
        """The names of the released fields, in the event type's declaration order."""
        return tuple(f for f in self._event_class.model_fields if f in self._fields)

    def is_released(self, name: str) -> bool:
        """Whether field `name` was released to this consumer for this purpose."""
        return name in self._fields

    @property
    def subject(self) -> str | None:
        """The person's identifier, if released (otherwise the delivery key is a pseudonym)."""
        value = self._fields.get(self._event_class.subject_field)
        return None if value is None else str(value)

    def __repr__(self) -> str:
        # Field values stay out of logs; names are enough to debug.
        return (
            f"ReleasedEvent({self.event_type} {self.id} for {self.purpose}: {self.released_fields})"
        )


class ReleasedFields:
    """`ReleasedEvent.data` at run time: attribute reads go to the released fields. Read-only,
    and its repr names fields, never values."""

    __slots__ = ("_event",)

    def __init__(self, event: "ReleasedEvent[Any]") -> None:
        object.__setattr__(self, "_event", event)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not slots: the event's fields.
        event: ReleasedEvent[Any] = object.__getattribute__(self, "_event")
        return event.field(name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a released event is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a released event is read-only")

    def __repr__(self) -> str:
        event: ReleasedEvent[Any] = object.__getattribute__(self, "_event")
        return f"ReleasedFields({event.event_type}: {event.released_fields})"
