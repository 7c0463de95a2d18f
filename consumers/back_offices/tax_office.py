"""The Bavarian state tax administration: where its taxpayers live, and when one died."""

import sqlite3

from bus.catalog.population import AddressChanged, PersonDied
from consumers.back_offices.back_office import BackOffice, Handles
from consumers.back_offices.columns import ADDRESS_COLUMNS, address_values, upsert
from consumers.view import ReleasedEvent

TABLE = "taxpayers"


async def on_move(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
    """A taxpayer moved: the new address, since when, and whether abroad."""
    upsert(
        db,
        TABLE,
        event.data.subject_id,
        {
            **address_values(event.data.new_address),
            "resident_since": event.data.effective_date,
            "moved_abroad": int(event.data.moved_abroad),
        },
    )


async def on_death(event: ReleasedEvent[PersonDied], db: sqlite3.Connection) -> None:
    """A taxpayer died: the date, and the municipality that registered the death."""
    upsert(
        db,
        TABLE,
        event.data.subject_id,
        {
            "died_on": event.data.date_of_death,
            "death_registered_in": event.data.registration_municipality_code,
        },
    )


TAX_OFFICE_BAVARIA = BackOffice(
    agency_id="tax-by",
    title="Bavarian state tax office",
    table=TABLE,
    schema=f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        person_id TEXT PRIMARY KEY, {ADDRESS_COLUMNS}, resident_since TEXT, moved_abroad INTEGER,
        died_on TEXT, death_registered_in TEXT)""",
    handles=(
        Handles("population.AddressChanged", "tax-residence", on_move),
        Handles("population.PersonDied", "tax-death", on_death),
    ),
)
