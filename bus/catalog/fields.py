"""Documented, classified fields: every field says what it is for auditors and how sensitive it is."""

import dataclasses
import types
import typing
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo


class DataClass(StrEnum):
    """How sensitive a field is; the policy layer decides per class what a subscriber may receive."""

    IDENTIFIER = "identifier"  # points at a person (or a record) without saying anything else
    PERSONAL = "personal"  # relates to an identified person (GDPR Art. 4(1))
    SPECIAL_CATEGORY = "special-category"  # health, religion, ethnicity, ... (GDPR Art. 9)
    PUBLIC = "public"  # says nothing about a person on its own


_DATA_CLASS_VALUES = frozenset(item.value for item in DataClass)


def data_field(description: str, data_class: DataClass, **kwargs: Any) -> Any:
    """A pydantic `Field` that carries its auditor-facing description and its data class.

    The class lands in the JSON Schema as `data_class`, so the schema alone tells an auditor what
    each field holds and how sensitive it is.
    """
    if not description.strip():
        raise ValueError("a field's description must not be empty; auditors read it")
    extra: dict[str, Any] = {"data_class": DataClass(data_class).value}
    return Field(description=description, json_schema_extra=extra, **kwargs)


def data_class_of(field: FieldInfo) -> DataClass | None:
    """The data class a field was declared with, or None if it was declared without `data_field`."""
    extra = field.json_schema_extra
    if not isinstance(extra, dict):
        return None
    value = extra.get("data_class")
    if not isinstance(value, str) or value not in _DATA_CLASS_VALUES:
        return None
    return DataClass(value)


def describe_type(annotation: Any) -> str:
    """A readable type for people: `date`, `str | None`, `Address` rather than typing reprs."""
    if annotation is None or annotation is types.NoneType:
        return "None"
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return " | ".join(describe_type(arg) for arg in typing.get_args(annotation))
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return repr(annotation).replace("typing.", "")


def describe_constraints(field: FieldInfo) -> str:
    """The field's validation constraints as `max_length=3, pattern='^a$'` (empty if none)."""
    parts: list[str] = []
    for item in field.metadata:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            values = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
        else:
            values = dict(vars(item)) if hasattr(item, "__dict__") else {"": item}
        parts.extend(f"{key}={value!r}" if key else repr(value) for key, value in values.items())
    return ", ".join(parts)


class DocumentedModel(BaseModel):
    """A frozen model whose every field has a description and a data class (checked at definition).

    Catalogue models (events and their parts, such as an address) derive from it, so an undocumented
    or unclassified field fails when the module is imported, not when an auditor asks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not (cls.__doc__ or "").strip():
            raise TypeError(f"{cls.__qualname__} needs a docstring that says what it records")
        for name, field in cls.model_fields.items():
            if not (field.description or "").strip():
                raise TypeError(
                    f"{cls.__qualname__}.{name} has no description; declare it with data_field(...)"
                )
            if data_class_of(field) is None:
                raise TypeError(
                    f"{cls.__qualname__}.{name} has no data class; declare it with data_field(...)"
                )
