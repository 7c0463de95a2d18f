"""Evolution rules: a new version only adds optional fields, unless it declares an upcaster."""

from datetime import date
from typing import Any

from bus.catalog import (
    CATALOG,
    Catalog,
    DataClass,
    Event,
    Incompatibility,
    check_catalog,
    data_field,
    format_report,
)

TYPE = "test.Moved"


class MovedV1(Event):
    """Version 1 of a synthetic event."""

    event_type = TYPE
    event_version = 1

    subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)
    effective: date = data_field("The day of the move.", DataClass.PERSONAL)
    town: str = data_field("The new town.", DataClass.PERSONAL, max_length=40)


class AddsOptional(MovedV1):
    """Version 2 adds an optional field: compatible."""

    event_version = 2
    district: str | None = data_field(
        "The new district, if known.", DataClass.PERSONAL, default=None
    )


class AddsRequired(MovedV1):
    """Version 2 adds a required field without an upcaster: incompatible."""

    event_version = 2
    district: str = data_field("The new district.", DataClass.PERSONAL)


def _district_from_v1(fields: dict[str, Any]) -> dict[str, Any]:
    # Old events did not know the district; the town stands in for it.
    return fields | {"district": fields["town"]}


class AddsRequiredWithUpcaster(AddsRequired):
    """Version 2 adds a required field and says how to fill it from version 1: compatible."""

    upcast = _district_from_v1


class RemovesField(Event):
    """Version 2 drops `town`."""

    event_type = TYPE
    event_version = 2

    subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)
    effective: date = data_field("The day of the move.", DataClass.PERSONAL)


class ChangesType(Event):
    """Version 2 turns `effective` into a string."""

    event_type = TYPE
    event_version = 2

    subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)
    effective: str = data_field("The day of the move.", DataClass.PERSONAL)
    town: str = data_field("The new town.", DataClass.PERSONAL, max_length=40)


class ChangesClassAndConstraint(Event):
    """Version 2 reclassifies `effective` and shortens `town`."""

    event_type = TYPE
    event_version = 2

    subject_id: str = data_field("The test subject.", DataClass.IDENTIFIER)
    effective: date = data_field("The day of the move.", DataClass.PUBLIC)
    town: str = data_field("The new town.", DataClass.PERSONAL, max_length=20)


class JumpsToV3(AddsOptional):
    """Version 3 without a version 2."""

    event_version = 3


class JumpsToV3WithUpcaster(AddsRequiredWithUpcaster):
    """Version 3 without a version 2, even though it has an upcaster."""

    event_version = 3


def problems_of(*events: type[Event]) -> list[str]:
    found = check_catalog(Catalog(events))
    assert all(item.event_type == TYPE for item in found)
    return [f"v{item.from_version}->v{item.to_version}: {item.problem}" for item in found]


def test_the_default_catalogue_is_consistent() -> None:
    assert check_catalog(CATALOG) == []


def test_a_single_version_is_fine() -> None:
    assert problems_of(MovedV1) == []


def test_adding_an_optional_field_is_compatible() -> None:
    assert problems_of(MovedV1, AddsOptional) == []


def test_adding_a_required_field_is_not() -> None:
    assert problems_of(MovedV1, AddsRequired) == [
        "v1->v2: new field 'district' is required; make it optional with a default "
        "or declare an upcaster"
    ]


def test_an_upcaster_allows_any_change_and_converts_old_events() -> None:
    assert problems_of(MovedV1, AddsRequiredWithUpcaster) == []
    old = MovedV1(subject_id="P-0001", effective=date(2024, 5, 1), town="Passau")
    upcast = AddsRequiredWithUpcaster.upcast
    assert upcast is not None
    new = AddsRequiredWithUpcaster.model_validate(upcast(old.field_values_json()))
    assert new.district == "Passau"
    assert new.effective == date(2024, 5, 1)


def test_removing_a_field_is_not_compatible() -> None:
    assert problems_of(MovedV1, RemovesField) == ["v1->v2: field 'town' was removed"]


def test_changing_a_type_is_not_compatible() -> None:
    assert problems_of(MovedV1, ChangesType) == [
        "v1->v2: field 'effective' changed type from date to str"
    ]


def test_changing_data_class_or_constraints_is_not_compatible() -> None:
    assert problems_of(MovedV1, ChangesClassAndConstraint) == [
        "v1->v2: field 'effective' changed data class from personal to public",
        "v1->v2: field 'town' changed its constraints from [max_length=40] to [max_length=20]",
    ]


def test_a_version_gap_is_reported_even_with_an_upcaster() -> None:
    assert problems_of(MovedV1, JumpsToV3) == ["v1->v3: versions jump from 1 to 3"]
    assert problems_of(MovedV1, JumpsToV3WithUpcaster) == ["v1->v3: versions jump from 1 to 3"]


def test_versions_must_start_at_1() -> None:
    assert problems_of(AddsOptional) == ["v0->v2: versions start at 2; the first version must be 1"]


def test_problems_of_several_versions_are_all_reported_in_order() -> None:
    class AddsRequiredV3(AddsOptional):
        """Version 3 makes a new field required."""

        event_version = 3
        floor: int = data_field("The floor.", DataClass.PERSONAL)

    assert problems_of(MovedV1, AddsOptional, AddsRequiredV3) == [
        "v2->v3: new field 'floor' is required; make it optional with a default "
        "or declare an upcaster"
    ]


def test_the_report_lists_one_line_per_problem() -> None:
    problems = [
        Incompatibility(TYPE, 1, 2, "field 'town' was removed"),
        Incompatibility("test.Other", 1, 3, "versions jump from 1 to 3"),
    ]
    assert format_report(problems) == (
        "catalog check failed: 2 incompatible changes\n"
        "  test.Moved v1 -> v2: field 'town' was removed\n"
        "  test.Other v1 -> v3: versions jump from 1 to 3"
    )
    assert format_report(problems[:1]).startswith("catalog check failed: 1 incompatible change\n")


def test_the_report_of_a_real_check() -> None:
    report = format_report(check_catalog(Catalog([MovedV1, RemovesField])))
    assert report.splitlines() == [
        "catalog check failed: 1 incompatible change",
        "  test.Moved v1 -> v2: field 'town' was removed",
    ]
