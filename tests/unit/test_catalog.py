"""The event catalogue: documented, classified, frozen event types that validate field by field."""

import typing
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from bus.catalog import (
    CATALOG,
    Catalog,
    CatalogError,
    DataClass,
    DocumentedModel,
    Event,
    UnknownEventTypeError,
    data_field,
)
from bus.catalog.population import Address, AddressChanged, PersonDied, PersonDiedV1
from bus.catalog.vehicles import VehicleOwnershipChanged, VehicleOwnershipChangedV1
from bus.errors import BusError

HOME = {
    "street": "Marienplatz",
    "house_number": "8",
    "postal_code": "80331",
    "municipality_code": "09162000",
    "country": "DE",
}
ABROAD = {"street": "Rue de la Loi", "house_number": "16", "postal_code": "1000", "country": "BE"}


def address_changed(**changes: Any) -> AddressChanged:
    fields: dict[str, Any] = {
        "subject_id": "DE-1234-5678",
        "previous_address": HOME,
        "new_address": ABROAD,
        "effective_date": "2024-05-01",
        "moved_abroad": True,
        "disclosure_block": False,
    }
    return AddressChanged.model_validate(fields | changes)


def nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """The sub-models a model's fields refer to (such as Address), found through the annotations."""
    found: list[type[BaseModel]] = []
    for field in model.model_fields.values():
        for candidate in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found.extend([candidate, *nested_models(candidate)])
    return found


class Thing(Event):
    """A synthetic event for tests; never part of the default catalogue."""

    event_type = "test.Thing"
    event_version = 1

    subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)


class OtherThing(Event):
    """Another synthetic event for tests."""

    event_type = "test.Thing"
    event_version = 1

    subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)


# --- the default catalogue -------------------------------------------------------------------


def test_the_catalogue_has_three_types_from_two_domains_and_no_test_classes() -> None:
    assert CATALOG.event_types() == [
        "population.AddressChanged",
        "population.PersonDied",
        "vehicles.VehicleOwnershipChanged",
    ]
    assert {name.split(".")[0] for name in CATALOG.event_types()} == {"population", "vehicles"}
    assert Thing not in list(CATALOG)


@pytest.mark.parametrize("event", list(CATALOG), ids=lambda event: event.event_type)
def test_every_field_of_every_event_and_sub_model_is_documented_and_classified(
    event: type[Event],
) -> None:
    for model in [event, *nested_models(event)]:
        for name, field in model.model_fields.items():
            assert field.description is not None, f"{model.__name__}.{name}"
            assert len(field.description) > 20, f"{model.__name__}.{name}: say more for auditors"
            assert isinstance(field.json_schema_extra, dict)
            assert field.json_schema_extra["data_class"] in {item.value for item in DataClass}
        assert (model.__doc__ or "").strip(), model.__name__
    assert set(event.data_classes()) == set(event.field_names())


@pytest.mark.parametrize("event", list(CATALOG), ids=lambda event: event.event_type)
def test_the_json_schema_carries_description_and_data_class_of_every_property(
    event: type[Event],
) -> None:
    schema = event.model_json_schema()
    assert schema["$id"] == event.dataschema()
    assert schema["additionalProperties"] is False
    for model_schema in [schema, *schema.get("$defs", {}).values()]:
        for name, prop in model_schema["properties"].items():
            assert prop["description"], name
            assert prop["data_class"] in {item.value for item in DataClass}, name


def test_the_catalogue_uses_every_data_class() -> None:
    used = {data_class for event in CATALOG for data_class in event.data_classes().values()}
    assert used == set(DataClass)


def test_address_changed_v1_has_the_fields_the_issue_asks_for() -> None:
    assert AddressChanged.event_type == "population.AddressChanged"
    assert AddressChanged.event_version == 1
    assert AddressChanged.field_names() == (
        "subject_id",
        "previous_address",
        "new_address",
        "effective_date",
        "moved_abroad",
        "disclosure_block",
    )
    assert AddressChanged.data_classes()["subject_id"] is DataClass.IDENTIFIER
    assert AddressChanged.data_classes()["disclosure_block"] is DataClass.PERSONAL
    assert Address.model_fields["municipality_code"].is_required() is False
    assert PersonDied.data_classes()["cause_of_death_code"] is DataClass.SPECIAL_CATEGORY
    assert VehicleOwnershipChanged.data_classes()["vehicle_class"] is DataClass.PUBLIC


def test_dataschema_names_type_and_version() -> None:
    assert AddressChanged.dataschema() == "urn:govbus:schema:population.AddressChanged:v1"
    assert (
        VehicleOwnershipChanged.dataschema()
        == "urn:govbus:schema:vehicles.VehicleOwnershipChanged:v2"
    )


# --- instances -------------------------------------------------------------------------------


def test_an_event_is_typed_and_knows_its_subject() -> None:
    event = address_changed()
    assert event.effective_date == date(2024, 5, 1)
    assert event.new_address.municipality_code is None  # abroad: no municipal code
    assert event.new_address.country == "BE"
    assert event.subject() == "DE-1234-5678"


def test_field_values_json_round_trips() -> None:
    event = address_changed()
    values = event.field_values_json()
    assert values["effective_date"] == "2024-05-01"
    assert values["previous_address"] == HOME
    assert AddressChanged.model_validate(values) == event


def test_events_and_their_parts_are_frozen() -> None:
    event = address_changed()
    with pytest.raises(ValidationError, match="frozen"):
        event.moved_abroad = False  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        event.new_address.country = "DE"  # type: ignore[misc]
    assert hash(event) == hash(address_changed())


def test_unknown_fields_are_rejected_in_events_and_their_parts() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        address_changed(religion="none")
    with pytest.raises(ValidationError, match="Extra inputs"):
        address_changed(new_address=ABROAD | {"floor": "3"})


@pytest.mark.parametrize(
    ("field", "bad_value"),
    [
        ("subject_id", "x"),
        ("effective_date", "1st of May"),
        ("new_address", ABROAD | {"country": "Belgium"}),
        ("new_address", HOME | {"municipality_code": "09-162"}),
    ],
)
def test_invalid_field_values_are_rejected(field: str, bad_value: object) -> None:
    with pytest.raises(ValidationError):
        address_changed(**{field: bad_value})


# --- validate_field --------------------------------------------------------------------------


def test_validate_field_returns_typed_values() -> None:
    assert AddressChanged.validate_field("effective_date", "2024-05-01") == date(2024, 5, 1)
    address = AddressChanged.validate_field("new_address", HOME)
    assert address == Address(**HOME)
    assert PersonDied.validate_field("cause_of_death_code", None) is None


def test_validate_field_applies_the_fields_constraints() -> None:
    with pytest.raises(ValidationError, match="pattern"):
        AddressChanged.validate_field("new_address", ABROAD | {"country": "be"})
    with pytest.raises(ValidationError, match="pattern"):
        AddressChanged.validate_field("subject_id", "x")
    with pytest.raises(ValidationError, match="pattern"):
        PersonDied.validate_field("cause_of_death_code", "heart attack")
    with pytest.raises(ValidationError, match="pattern"):
        VehicleOwnershipChanged.validate_field("vehicle_id", "WVWZZZ1JZXW00000I")
    assert VehicleOwnershipChanged.validate_field("vehicle_id", "WVWZZZ1JZXW000001") == (
        "WVWZZZ1JZXW000001"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("moved_abroad", "true"),
        ("moved_abroad", 1),
        ("disclosure_block", "false"),
        ("effective_date", 1714521600),
        ("subject_id", 4711),
    ],
)
def test_validate_field_is_strict_json(name: str, value: object) -> None:
    # A lax coercion would let the enforcer decide on one value and a consumer read another.
    with pytest.raises(ValidationError):
        AddressChanged.validate_field(name, value)


def test_validate_field_rejects_an_unknown_field_name() -> None:
    with pytest.raises(KeyError, match="religion"):
        AddressChanged.validate_field("religion", "none")


# --- definition-time checks ------------------------------------------------------------------


def test_a_field_without_data_class_fails_at_class_definition() -> None:
    with pytest.raises(TypeError, match=r"Undocumented\.note has no data class"):

        class Undocumented(Event):
            """An event with a plain pydantic field."""

            event_type = "test.Undocumented"
            event_version = 1
            subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)
            note: str = Field(description="A note.")


def test_a_field_without_description_fails_at_class_definition() -> None:
    with pytest.raises(TypeError, match=r"Bare\.note has no description"):

        class Bare(DocumentedModel):
            """A sub-model with a bare field."""

            note: str


def test_data_field_refuses_an_empty_description() -> None:
    with pytest.raises(ValueError, match="description"):
        data_field("  ", DataClass.PUBLIC)


def test_the_subject_field_must_be_an_identifier() -> None:
    with pytest.raises(TypeError, match=r"subject_field 'subject_id'"):

        class Personal(Event):
            """An event whose subject is not an identifier."""

            event_type = "test.Personal"
            event_version = 1
            subject_id: str = data_field("A name, wrongly used as subject.", DataClass.PERSONAL)


def test_event_type_and_version_are_checked() -> None:
    with pytest.raises(TypeError, match=r"'domain\.EventName'"):

        class BadName(Event):
            """An event with a malformed type name."""

            event_type = "AddressChanged"
            event_version = 1
            subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)

    with pytest.raises(TypeError, match="from 1 up"):

        class BadVersion(Event):
            """An event with version 0."""

            event_type = "test.BadVersion"
            event_version = 0
            subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)


# --- the Catalog -----------------------------------------------------------------------------


def test_catalog_lookups() -> None:
    assert CATALOG.get("population.AddressChanged", 1) is AddressChanged
    assert CATALOG.latest("population.PersonDied") is PersonDied
    assert CATALOG.versions("vehicles.VehicleOwnershipChanged") == [
        VehicleOwnershipChangedV1,
        VehicleOwnershipChanged,
    ]
    assert list(CATALOG) == [
        AddressChanged,
        PersonDiedV1,
        PersonDied,
        VehicleOwnershipChangedV1,
        VehicleOwnershipChanged,
    ]
    assert len(CATALOG) == 5


def test_an_unknown_type_names_itself_and_the_known_types() -> None:
    with pytest.raises(UnknownEventTypeError) as caught:
        CATALOG.latest("population.Married")
    message = str(caught.value)
    assert "'population.Married'" in message
    for known in CATALOG.event_types():
        assert known in message
    assert isinstance(caught.value, BusError)


def test_an_unknown_version_names_type_version_and_known_versions() -> None:
    with pytest.raises(UnknownEventTypeError) as caught:
        CATALOG.get("population.AddressChanged", 7)
    assert str(caught.value) == (
        "event type 'population.AddressChanged' has no version 7; known versions: 1"
    )
    with pytest.raises(UnknownEventTypeError, match=r"'test.Thing' version 1; known event types"):
        CATALOG.get("test.Thing", 1)


def test_a_catalog_refuses_two_classes_for_one_type_and_version() -> None:
    with pytest.raises(CatalogError, match=r"test.Thing v1 is defined twice.*Thing.*OtherThing"):
        Catalog([Thing, OtherThing])


def test_a_catalog_refuses_a_class_without_type() -> None:
    class Abstract(Event):
        """An intermediate class without type and version."""

        subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)

    with pytest.raises(CatalogError, match="Abstract sets no event_type"):
        Catalog([Abstract])
