"""A reference back office's row is erased when the retention of every delivery that wrote it has
run out, and not before: the tax office, two moves of one person, a clock the test sets."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bus.catalog.population import AddressChanged
from consumers import ReleasedEvent, SqliteInbox
from consumers.back_offices.sources import erasing_rows, recording_sources
from consumers.back_offices.tax_office import TAX_OFFICE_BAVARIA, on_move
from consumers.inbox import InboxOutcome
from consumers.purge import purge
from tests.support.events import address_changed

TYPE = "population.AddressChanged"
PURPOSE = "tax-residence"
SOURCE = "muni-09162000"
START = datetime(2026, 1, 1, tzinfo=UTC)
TABLE = TAX_OFFICE_BAVARIA.table


async def apply(inbox: SqliteInbox, event_id: str, erase_by: datetime) -> None:
    event = address_changed("P-1234-5678")
    released = ("subject_id", "new_address", "effective_date", "moved_abroad")
    view: ReleasedEvent[AddressChanged] = ReleasedEvent(
        event_id=event_id,
        event_class=AddressChanged,
        source=SOURCE,
        time=START,
        consumer=TAX_OFFICE_BAVARIA.agency_id,
        purpose=PURPOSE,
        fields={name: getattr(event, name) for name in released},
    )
    with inbox.transaction() as db:
        await recording_sources(TABLE, on_move)(view, db)
        inbox.record(db, SOURCE, event_id, TYPE, PURPOSE, InboxOutcome.APPLIED, erase_by)


def taxpayers(inbox: SqliteInbox) -> list[str]:
    return [r[0] for r in inbox.db.execute(f"SELECT person_id FROM {TABLE}")]  # noqa: S608


async def test_a_row_goes_with_the_last_delivery_that_wrote_it(tmp_path: Path) -> None:
    inbox = TAX_OFFICE_BAVARIA.open_database(tmp_path / "tax.db")
    first, second = START + timedelta(days=3650), START + timedelta(days=3700)
    await apply(inbox, "e-1", first)
    await apply(inbox, "e-2", second)
    erasers = {(PURPOSE, TYPE): erasing_rows(TABLE)}

    # The first move's deadline: the row stays, the second move still justifies it.
    assert (await purge(inbox, erasers, None, first)).erased == 1
    assert taxpayers(inbox) == ["P-1234-5678"]
    # The second's: nothing about the person is left.
    assert (await purge(inbox, erasers, None, second)).erased == 1
    assert taxpayers(inbox) == []
    assert inbox.db.execute(f"SELECT count(*) FROM {TABLE}_sources").fetchone() == (0,)  # noqa: S608
