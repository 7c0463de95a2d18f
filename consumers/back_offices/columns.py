"""Writing rows: upsert by person, and the columns an address fills."""

import sqlite3
from datetime import date
from typing import Any

from bus.catalog.population import Address

ADDRESS_COLUMNS = (
    "street TEXT, house_number TEXT, postal_code TEXT, municipality_code TEXT, country TEXT"
)


def address_values(address: Address) -> dict[str, Any]:
    """The values of the ADDRESS_COLUMNS for `address`, by column name."""
    return {
        "street": address.street,
        "house_number": address.house_number,
        "postal_code": address.postal_code,
        "municipality_code": address.municipality_code,
        "country": address.country,
    }


def upsert(db: sqlite3.Connection, table: str, person_id: str, values: dict[str, Any]) -> None:
    """Insert the person or update the given columns; other columns keep their values.
    Table and column names come from this package's code, never from an event."""
    names = list(values)
    columns = ", ".join(["person_id", *names])
    marks = ", ".join("?" * (len(names) + 1))
    updates = ", ".join(f"{n} = excluded.{n}" for n in names)
    db.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "  # noqa: S608 - names are ours
        f"ON CONFLICT (person_id) DO UPDATE SET {updates}",
        [
            person_id,
            *(v.isoformat() if isinstance(v, date) else v for v in values.values()),
        ],
    )
