"""Sample events for tests."""

from datetime import date

from bus.catalog.population import Address, AddressChanged


def address_changed(subject_id: str = "P-1001-2002", **overrides: object) -> AddressChanged:
    values: dict[str, object] = {
        "subject_id": subject_id,
        "previous_address": Address(
            street="Marienplatz",
            house_number="8",
            postal_code="80331",
            municipality_code="09162000",
            country="DE",
        ),
        "new_address": Address(
            street="Hauptstraße",
            house_number="12a",
            postal_code="93047",
            municipality_code="09362000",
            country="DE",
        ),
        "effective_date": date(2026, 11, 1),
        "moved_abroad": False,
        "disclosure_block": False,
    }
    values.update(overrides)
    return AddressChanged.model_validate(values)
