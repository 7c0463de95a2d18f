"""The handler's view: only released fields, read-only, and a withheld field names purpose and field."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.catalog.population import AddressChanged
from consumers import ReleasedEvent, RetryPolicy, SqliteInbox, WithheldFieldError
from consumers.inbox import InboxOutcome
from tests.support.events import address_changed

EVENT = address_changed("P-1234-5678")


def view(*released: str) -> ReleasedEvent[AddressChanged]:
    values = {name: getattr(EVENT, name) for name in released}
    return ReleasedEvent(
        event_id="e-1",
        event_class=AddressChanged,
        source="muni-09162000",
        time=datetime(2026, 11, 2, tzinfo=UTC),
        consumer="kba-de",
        purpose="vehicle-owner-address",
        fields=values,
    )


def test_released_fields_read_as_typed_values() -> None:
    event = view("subject_id", "new_address")
    assert event.data.subject_id == "P-1234-5678"
    assert event.data.new_address.municipality_code == "09362000"
    assert event.subject == "P-1234-5678"
    assert event.released_fields == ("subject_id", "new_address")
    assert event.is_released("new_address")
    assert not event.is_released("previous_address")


def test_a_withheld_field_raises_naming_purpose_and_field() -> None:
    event = view("subject_id", "new_address")
    with pytest.raises(WithheldFieldError, match="previous_address") as caught:
        _ = event.data.previous_address
    assert "vehicle-owner-address" in str(caught.value)
    assert "kba-de" in str(caught.value)
    with pytest.raises(AttributeError, match="has no field 'shoe_size'"):
        _ = event.data.shoe_size  # type: ignore[attr-defined]


def test_the_view_is_read_only() -> None:
    event = view("subject_id")
    with pytest.raises(AttributeError, match="read-only"):
        event.data.subject_id = "P-0000-0000"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        event.id = "forged"
    with pytest.raises(AttributeError, match="has no attribute 'event_id'"):
        _ = event.event_id  # type: ignore[attr-defined]
    assert event.id == "e-1"


def test_without_the_subject_released_there_is_no_subject() -> None:
    assert view("new_address").subject is None


def test_retry_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(attempts=6, first_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay_after(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


def test_the_inbox_commits_the_handlers_writes_with_the_event_id_or_neither(tmp_path: Path) -> None:
    inbox = SqliteInbox(tmp_path / "office.db")
    inbox.db.execute("CREATE TABLE people (person_id TEXT)")

    def failing_handler() -> None:
        with inbox.transaction() as db:
            db.execute("INSERT INTO people VALUES ('P-1')")
            inbox.record(
                db, "muni-1", "e-1", "population.AddressChanged", "tax", InboxOutcome.APPLIED
            )
            raise RuntimeError("handler failed after writing")

    with pytest.raises(RuntimeError):
        failing_handler()
    assert inbox.seen("muni-1", "e-1", "tax") is None
    assert inbox.db.execute("SELECT count(*) FROM people").fetchone() == (0,)
    with inbox.transaction() as db:
        db.execute("INSERT INTO people VALUES ('P-1')")
        inbox.record(db, "muni-1", "e-1", "population.AddressChanged", "tax", InboxOutcome.APPLIED)
    assert inbox.seen("muni-1", "e-1", "tax") is InboxOutcome.APPLIED
    assert inbox.db.execute("SELECT count(*) FROM people").fetchone() == (1,)
