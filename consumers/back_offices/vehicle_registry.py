"""The national vehicle registry: the registered keeper's current address, nothing else."""

import sqlite3

from bus.catalog.population import AddressChanged
from consumers.back_offices.back_office import BackOffice, Handles
from consumers.back_offices.columns import ADDRESS_COLUMNS, address_values, upsert
from consumers.view import ReleasedEvent

TABLE = "keepers"


async def on_move(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
    """A keeper moved: the new address."""
    upsert(db, TABLE, event.data.subject_id, address_values(event.data.new_address))


VEHICLE_REGISTRY = BackOffice(
    agency_id="kba-de",
    title="National vehicle registry",
    table=TABLE,
    schema=f"CREATE TABLE IF NOT EXISTS {TABLE} (person_id TEXT PRIMARY KEY, {ADDRESS_COLUMNS})",
    handles=(Handles("population.AddressChanged", "vehicle-owner-address", on_move),),
)
