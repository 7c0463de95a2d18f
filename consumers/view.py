"""What a handler sees: a read-only, typed view of the fields released to this consumer and
purpose, and of the event's envelope attributes. Every value was verified against the producer's
signature before the view was built."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bus.catalog import Event
from consumers.errors import WithheldFieldError


class ReleasedEvent:
    """`event.new_address` returns the typed value if released; a withheld field of the event
    type raises WithheldFieldError naming purpose and field; a name the type does not have raises
    AttributeError.

    The consumer SDK builds it; handlers only read it. Besides the fields: `id`, `event_type`,
    `source` (the producer), `time` and `purpose` of the delivery.
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

    id: str
    event_type: str
    source: str
    time: datetime
    purpose: str
    _consumer: str
    _event_class: type[Event]
    _fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not attributes of the view: the event's fields.
        return self.field(name)

    def field(self, name: str) -> Any:
        """A field by name (also one whose name an envelope attribute shadows)."""
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            return fields[name]
        event_class = object.__getattribute__(self, "_event_class")
        if name in event_class.model_fields:
            raise WithheldFieldError(
                event_class.event_type,
                name,
                object.__getattribute__(self, "_consumer"),
                object.__getattribute__(self, "purpose"),
            )
        raise AttributeError(f"{event_class.event_type} has no field {name!r}")

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
