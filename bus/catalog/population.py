"""Events of the municipal population registers: where people live, and that they died."""

from collections.abc import Mapping
from datetime import date
from typing import Any

from bus.catalog.event import Event, Reporting
from bus.catalog.fields import DataClass, DocumentedModel, data_field

# The national person identifier as the registers issue it.
PERSON_ID_PATTERN = r"^[A-Za-z0-9-]{4,40}$"
# Official municipal codes: a German AGS has 8 digits, an EU LAU code up to 12 letters and digits.
MUNICIPALITY_CODE_PATTERN = r"^[A-Z0-9]{2,12}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"


def subject_id_field() -> Any:
    """The subject field every population event shares, declared once so it reads the same."""
    description = (
        "The national person identifier of the person this event is about, as issued by the "
        "population register. It identifies the person and carries no other information."
    )
    return data_field(description, DataClass.IDENTIFIER, pattern=PERSON_ID_PATTERN)


def disclosure_block_data_field() -> Any:
    """The disclosure-block flag every event about a person carries (the linter requires it)."""
    description = (
        "True if the population register has blocked disclosure of this person's data, for "
        "example because of a registered threat to the person (§ 51 BMG). Receivers without an "
        "explicit legal basis must not receive any data about this person. It is classed "
        "personal, not special-category, because it records a protection measure, not the "
        "reason for it."
    )
    return data_field(description, DataClass.PERSONAL)


def blocked_unless_known(values: dict[str, Any]) -> dict[str, Any]:
    """Upcaster for a version that gained the disclosure-block flag: an older event cannot say
    the person is unprotected, so it reads as blocked (fail closed)."""
    return {**values, "disclosure_block": True}


class Address(DocumentedModel):
    """A postal address as the population register records it, in the country or abroad."""

    street: str = data_field(
        "Street name of the address, as written in the register.",
        DataClass.PERSONAL,
        min_length=1,
        max_length=200,
    )
    house_number: str = data_field(
        "House number including any suffix (for example '12a'), as written in the register.",
        DataClass.PERSONAL,
        min_length=1,
        max_length=20,
    )
    postal_code: str | None = data_field(
        "Postal code of the address; empty for countries without postal codes.",
        DataClass.PERSONAL,
        default=None,
        min_length=1,
        max_length=16,
    )
    municipality_code: str | None = data_field(
        "Official code of the municipality the address lies in: the 8-digit German municipality "
        "key (AGS) or the EU local administrative unit (LAU) code. It decides which local "
        "authorities are competent. Empty for an address abroad, where the register has no code.",
        DataClass.PERSONAL,
        default=None,
        pattern=MUNICIPALITY_CODE_PATTERN,
    )
    country: str = data_field(
        "Country of the address as an ISO 3166-1 alpha-2 code (for example 'DE'); always set, "
        "also for an address abroad.",
        DataClass.PERSONAL,
        pattern=COUNTRY_PATTERN,
    )


class AddressChanged(Event):
    """A person registered a new main residence with the population register (a move)."""

    event_type = "population.AddressChanged"
    event_version = 1
    locations = {  # noqa: RUF012 - a class constant, never mutated
        "new_address": "new_address.municipality_code",
        "previous_address": "previous_address.municipality_code",
    }
    disclosure_block_field = "disclosure_block"

    subject_id: str = subject_id_field()
    previous_address: Address = data_field(
        "The main residence registered before the move, from the population register.",
        DataClass.PERSONAL,
    )
    new_address: Address = data_field(
        "The main residence registered by the move, from the registration form the person filed.",
        DataClass.PERSONAL,
    )
    effective_date: date = data_field(
        "The day the person moved in at the new address, as declared at registration.",
        DataClass.PERSONAL,
    )
    moved_abroad: bool = data_field(
        "True if the person left the country: the new address is abroad and the person is "
        "deregistered here. Receivers use it to end local entitlements and duties.",
        DataClass.PERSONAL,
    )
    disclosure_block: bool = disclosure_block_data_field()

    @classmethod
    def reporting(cls, values: Mapping[str, Any]) -> Reporting:
        """The new residence's register reports a move; the previous one a move abroad."""
        # § 17 Abs. 1 BMG: a person registers with the register of the new residence, which reports
        # the move and records the previous address from the registration form (the old register
        # learns of it by Rückmeldung, § 33 BMG). A move abroad is a deregistration at the
        # register of the previous residence (§ 17 Abs. 2 BMG), and the new address is abroad.
        if values.get("moved_abroad") is True:
            return Reporting("previous_address")
        return Reporting("new_address", declared=("previous_address",))


class PersonDiedV1(Event):
    """The population register recorded a person's death, from the death registration. Without
    the disclosure-block flag: superseded by version 2, and decided as if the person were blocked."""

    event_type = "population.PersonDied"
    event_version = 1
    locations = {"place_of_registration": "registration_municipality_code"}  # noqa: RUF012

    subject_id: str = subject_id_field()
    date_of_death: date = data_field(
        "The day of death as stated in the death registration.",
        DataClass.PERSONAL,
    )
    registration_municipality_code: str = data_field(
        "Official code (AGS or LAU) of the municipality whose registry office registered the "
        "death. Classed personal because, together with the person, it tells where they died.",
        DataClass.PERSONAL,
        pattern=MUNICIPALITY_CODE_PATTERN,
    )
    cause_of_death_code: str | None = data_field(
        "ICD-10 code of the underlying cause of death, if the death certificate gives one. "
        "Health data (special category, GDPR Art. 9): only receivers with a specific legal "
        "basis, such as health statistics, may get it.",
        DataClass.SPECIAL_CATEGORY,
        default=None,
        pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$",
    )


class PersonDied(PersonDiedV1):
    """The population register recorded a person's death, from the death registration; says
    whether the person was under a disclosure block, which their death does not lift."""

    event_version = 2
    disclosure_block_field = "disclosure_block"
    upcast = blocked_unless_known

    disclosure_block: bool = disclosure_block_data_field()
