"""The base of every catalogue event: a frozen, documented model with a type name and a version."""

import functools
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, NamedTuple

from pydantic import ConfigDict, TypeAdapter

from bus.catalog.fields import DataClass, DocumentedModel, data_class_of
from bus.util.encoding import json_bytes

# Domain (lower case) dot event name (PascalCase): the domain is who produces it.
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[A-Z][A-Za-z0-9]*$")


def _schema_identity(schema: dict[str, Any], model: type[Any]) -> None:
    # The schema names its own type and version, so a stored copy cannot be mistaken for another.
    if isinstance(model, type) and issubclass(model, Event) and hasattr(model, "event_type"):
        schema["$id"] = model.dataschema()


class Reporting(NamedTuple):
    """Which register reports an event, by the registration law: the one of `location` (None: an
    event without a location, reported by a nationwide source). Locations in `declared` are
    recorded by that register from the person's own declaration (the previous address of a move),
    so it need not be their authority; every other location must lie outside the bus's territory."""

    location: str | None
    declared: tuple[str, ...] = ()


class Event(DocumentedModel):
    """A fact a producing agency publishes once; subclasses are the catalogue's event types."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_schema_identity)

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    subject_field: ClassVar[str] = "subject_id"
    # Set on version N to turn the JSON fields of version N-1 into version N. Assign a plain
    # function and call it on the class (`type(event).upcast`): on an instance it would bind.
    upcast: ClassVar[Callable[[dict[str, Any]], dict[str, Any]] | None] = None
    # Where the subject is, for jurisdiction: location name -> dotted path of a municipality code
    # (None at that path means abroad or unknown). Policies' territorial rules name these.
    locations: ClassVar[dict[str, str]] = {}
    # The field that marks a person under a disclosure block, if the event type carries one.
    disclosure_block_field: ClassVar[str | None] = None
    # Whether the subject is a person (rather than a record): then the event type must carry a
    # disclosure-block field (the policy linter says so), and a version without one is decided as
    # if the person were blocked.
    subject_is_person: ClassVar[bool] = True

    @classmethod
    def disclosure_blocked(cls, values: Mapping[str, Any]) -> bool:
        """Whether the event's subject is under a disclosure block, from its field values (typed
        or JSON). Fails closed: a version without the flag, about a person, counts as blocked."""
        if cls.disclosure_block_field is None:
            return cls.subject_is_person
        return bool(values.get(cls.disclosure_block_field))

    @classmethod
    def reporting(cls, values: Mapping[str, Any]) -> Reporting:
        """Who reports this event (see Reporting), from its field values (typed or JSON). By
        default the register of its first location; an event type with a finer rule overrides."""
        return Reporting(next(iter(cls.locations), None))

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not hasattr(cls, "event_type"):
            return  # an abstract intermediate class; the catalogue refuses it
        name = cls.__qualname__
        if not isinstance(cls.event_type, str) or not _EVENT_TYPE.match(cls.event_type):
            raise TypeError(f"{name}.event_type must look like 'domain.EventName'")
        version = getattr(cls, "event_version", None)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise TypeError(f"{name}.event_version must be an integer from 1 up")
        subject = cls.model_fields.get(cls.subject_field)
        if subject is None or data_class_of(subject) is not DataClass.IDENTIFIER:
            raise TypeError(
                f"{name}.subject_field {cls.subject_field!r} must name a field of class identifier"
            )
        block = cls.model_fields.get(cls.disclosure_block_field or "")
        if cls.disclosure_block_field and (
            block is None or block.annotation is not bool or not block.is_required()
        ):
            raise TypeError(f"{name}.disclosure_block_field must name a required bool field")

    def subject(self) -> str:
        """The identifier of the person (or record) this event is about."""
        return str(getattr(self, self.subject_field))

    @classmethod
    def data_classes(cls) -> dict[str, DataClass]:
        """Field name to data class, in declaration order."""
        classes: dict[str, DataClass] = {}
        for name, field in cls.model_fields.items():
            data_class = data_class_of(field)
            assert data_class is not None  # checked when the class was defined
            classes[name] = data_class
        return classes

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The field names in declaration order."""
        return tuple(cls.model_fields)

    @classmethod
    def validate_field(cls, name: str, value: object) -> object:
        """Validate one field's JSON value into its typed value, with the field's own constraints.

        Strict, as JSON: `true` is a bool and `"true"` is not, a date is a `YYYY-MM-DD` string, not
        a number. A lax coercion would let the bus decide on one value and a consumer read another.
        Unknown name: KeyError. Invalid value: pydantic.ValidationError.
        """
        return _field_adapter(cls, name).validate_json(json_bytes(value), strict=True)

    def field_values_json(self) -> dict[str, Any]:
        """The field values as JSON-compatible data (dates as ISO strings, sub-models as dicts)."""
        return self.model_dump(mode="json")

    @classmethod
    def dataschema(cls) -> str:
        """The URN naming this type and version's schema (for the CloudEvents `dataschema`)."""
        return f"urn:govbus:schema:{cls.event_type}:v{cls.event_version}"


@functools.cache
def _field_adapter(model: type[Event], name: str) -> TypeAdapter[Any]:
    # Building an adapter compiles a validator; one per (class, field) keeps validation cheap.
    field = model.model_fields.get(name)
    if field is None:
        raise KeyError(f"{model.__qualname__} has no field {name!r}")
    # Carrying the metadata along applies the field's constraints (pattern, length) too.
    form: Any = field.annotation
    if field.metadata:
        form = Annotated[(form, *field.metadata)]
    return TypeAdapter(form)
