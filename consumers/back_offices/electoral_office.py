"""Munich's electoral office: who lives in Munich and may vote there, and who has died."""

import sqlite3

from bus.catalog.population import AddressChanged, PersonDied
from consumers.back_offices.back_office import BackOffice, Handles
from consumers.back_offices.columns import ADDRESS_COLUMNS, address_values, upsert
from consumers.view import ReleasedEvent

TABLE = "voters"


async def on_move(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
    """A voter moved: the new address, since when; eligible unless they moved abroad."""
    upsert(
        db,
        TABLE,
        event.data.subject_id,
        {
            **address_values(event.data.new_address),
            "registered_since": event.data.effective_date,
            "eligible": int(not event.data.moved_abroad),
        },
    )


async def on_death(event: ReleasedEvent[PersonDied], db: sqlite3.Connection) -> None:
    """A voter died: the date, and no longer eligible."""
    upsert(db, TABLE, event.data.subject_id, {"died_on": event.data.date_of_death, "eligible": 0})


ELECTORAL_OFFICE_MUNICH = BackOffice(
    agency_id="elect-09162000",
    title="Munich electoral office",
    table=TABLE,
    schema=f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        person_id TEXT PRIMARY KEY, {ADDRESS_COLUMNS}, registered_since TEXT, eligible INTEGER,
        died_on TEXT)""",
    handles=(
        Handles("population.AddressChanged", "electoral-register", on_move),
        Handles("population.PersonDied", "electoral-register", on_death),
    ),
)
