"""Events of the national vehicle registry."""

from datetime import date

from bus.catalog.event import Event
from bus.catalog.fields import DataClass, data_field
from bus.catalog.population import (
    PERSON_ID_PATTERN,
    blocked_unless_known,
    disclosure_block_data_field,
)


class VehicleOwnershipChangedV1(Event):
    """The vehicle registry recorded a new owner (registered keeper) for a vehicle. Without the
    disclosure-block flag: superseded by version 2, and decided as if the owner were blocked."""

    event_type = "vehicles.VehicleOwnershipChanged"
    event_version = 1

    subject_id: str = data_field(
        "The national person identifier of the new owner, as given at registration and checked "
        "against the population register.",
        DataClass.IDENTIFIER,
        pattern=PERSON_ID_PATTERN,
    )
    plate_number: str = data_field(
        "The registration plate assigned to the vehicle for the new owner, as printed on the "
        "plate. Classed personal because it leads to the owner.",
        DataClass.PERSONAL,
        pattern=r"^[A-Z0-9][A-Z0-9 -]{0,14}$",
    )
    vehicle_id: str = data_field(
        "The vehicle identification number (VIN, ISO 3779) stamped on the vehicle. Classed "
        "personal because, through the registry, it leads to the owner.",
        DataClass.PERSONAL,
        pattern=r"^[A-HJ-NPR-Z0-9]{17}$",
    )
    vehicle_class: str = data_field(
        "The EU vehicle category from the type approval (for example 'M1' for a passenger car, "
        "'N1' for a light van, 'L3e' for a motorcycle). Says nothing about the owner.",
        DataClass.PUBLIC,
        pattern=r"^[A-Z][0-9][A-Za-z0-9]{0,3}$",
    )
    effective_date: date = data_field(
        "The day the new owner was entered in the registry.",
        DataClass.PERSONAL,
    )
    previous_owner_id: str | None = data_field(
        "The national person identifier of the previous owner; empty for a first registration "
        "or if the previous owner was not a natural person.",
        DataClass.IDENTIFIER,
        default=None,
        pattern=PERSON_ID_PATTERN,
    )


class VehicleOwnershipChanged(VehicleOwnershipChangedV1):
    """The vehicle registry recorded a new owner (registered keeper) for a vehicle; says whether
    the owner is under a disclosure block, which the registry learns from the population register."""

    event_version = 2
    disclosure_block_field = "disclosure_block"
    upcast = blocked_unless_known

    disclosure_block: bool = disclosure_block_data_field()
