"""The national benefits agency: a move may change the competent job centre, a death ends the
entitlement. Its grant releases the previous address too; it keeps the previous municipality."""

import sqlite3

from bus.catalog.population import AddressChanged, PersonDied
from consumers.back_offices.back_office import BackOffice, Handles
from consumers.back_offices.columns import ADDRESS_COLUMNS, address_values, upsert
from consumers.view import ReleasedEvent

TABLE = "recipients"


async def on_move(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
    """A recipient moved: the new address, the previous municipality, the date, whether
    abroad."""
    upsert(
        db,
        TABLE,
        event.data.subject_id,
        {
            **address_values(event.data.new_address),
            "previous_municipality_code": event.data.previous_address.municipality_code,
            "moved_on": event.data.effective_date,
            "moved_abroad": int(event.data.moved_abroad),
        },
    )


async def on_death(event: ReleasedEvent[PersonDied], db: sqlite3.Connection) -> None:
    """A recipient died: the date, which ends the entitlement."""
    upsert(db, TABLE, event.data.subject_id, {"died_on": event.data.date_of_death})


BENEFITS_AGENCY = BackOffice(
    agency_id="benefits-de",
    title="National benefits agency",
    table=TABLE,
    schema=f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        person_id TEXT PRIMARY KEY, {ADDRESS_COLUMNS}, previous_municipality_code TEXT,
        moved_on TEXT, moved_abroad INTEGER, died_on TEXT)""",
    handles=(
        Handles("population.AddressChanged", "benefits-entitlement", on_move),
        Handles("population.PersonDied", "benefits-entitlement", on_death),
    ),
)
