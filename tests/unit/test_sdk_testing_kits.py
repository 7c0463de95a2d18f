"""The SDKs' testing kits, used as an agency's own unit tests would use them (no broker)."""

import sqlite3

import pytest

from bus.catalog.population import AddressChanged
from bus.envelope.errors import EnvelopeError
from bus.keys import AgencySigningKey
from consumers import RejectDelivery, ReleasedEvent
from consumers.dead_letters import HANDLER_FAILED, HANDLER_REJECTED
from consumers.handling import DeadLetter, Retry, Skip
from consumers.testing import handle_once, released
from producers import PublishError
from producers.testing import CapturingProducer
from tests.support.events import address_changed

TABLES = "CREATE TABLE taxpayers (person_id TEXT PRIMARY KEY, street TEXT NOT NULL)"
MOVE = address_changed("P-1234-5678")


async def on_move(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO taxpayers VALUES (?, ?)",
        (event.data.subject_id, event.data.new_address.street),
    )


async def test_a_handler_is_applied_once_and_its_rows_are_there() -> None:
    event = released(MOVE, "tax-residence", fields=["subject_id", "new_address"])
    result = await handle_once(on_move, event, setup=TABLES)
    assert result.applied
    assert result.inbox.db.execute("SELECT * FROM taxpayers").fetchall() == [
        ("P-1234-5678", "Hauptstraße")
    ]
    again = await handle_once(on_move, event, inbox=result.inbox)  # a redelivery
    assert again.step == Skip()
    assert result.inbox.db.execute("SELECT count(*) FROM taxpayers").fetchone() == (1,)


async def test_a_withheld_field_or_a_bug_is_a_dead_letter_and_leaves_no_rows() -> None:
    event = released(MOVE, "tax-residence", fields=["new_address"])  # subject_id withheld
    result = await handle_once(on_move, event, setup=TABLES)
    assert isinstance(result.step, DeadLetter)
    assert result.step.reason == "WITHHELD_FIELD"
    assert result.inbox.db.execute("SELECT count(*) FROM taxpayers").fetchone() == (0,)

    async def misreads(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO taxpayers VALUES (?, ?)", (event.event_id, "x"))  # type: ignore[attr-defined]

    result = await handle_once(misreads, released(MOVE, "tax"), setup=TABLES)
    assert isinstance(result.step, DeadLetter)
    assert result.step.reason == HANDLER_FAILED
    assert "event_id" in result.step.detail


async def test_a_rejection_is_parked_and_a_transient_error_retried() -> None:
    async def rejects(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
        raise RejectDelivery("not one of our taxpayers")

    async def locked(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database is locked")

    event = released(MOVE, "tax")
    assert (await handle_once(rejects, event)).step == DeadLetter(
        HANDLER_REJECTED, "not one of our taxpayers"
    )
    assert isinstance((await handle_once(locked, event)).step, Retry)


def test_a_field_name_the_type_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="no field"):
        released(MOVE, "tax", fields=["subject_id", "shoe_size"])


async def test_the_capturing_producer_signs_as_the_real_one_and_can_fail_on_demand() -> None:
    key = AgencySigningKey.generate("muni-09162000")
    async with CapturingProducer(key) as producer:
        event_id = await producer.publish(MOVE)
        producer.fail()
        with pytest.raises(PublishError) as failed:
            await producer.publish(MOVE)
        retried = await producer.publish(MOVE, event_id=failed.value.failed[0])
    first, second = producer.published
    assert (first.event_id, second.event_id) == (event_id, retried)
    assert first.topic == "bus.ingress.population.AddressChanged"
    verified = producer.verify(first)
    assert verified.attributes.source == "muni-09162000"
    assert verified.fields["subject_id"] == "P-1234-5678"
    forged = AgencySigningKey.generate("muni-09162000")  # same agency, another key
    with pytest.raises(EnvelopeError):
        CapturingProducer(forged).verify(first)
