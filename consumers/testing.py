"""Unit-testing a back office's handlers in milliseconds: no broker, no keys, no files.

    from consumers.testing import handle_once, released

    async def test_a_move_updates_the_taxpayer() -> None:
        event = released(address_changed, "tax-residence", fields=["subject_id", "new_address"])
        result = await handle_once(on_move, event, setup="CREATE TABLE taxpayers (...)")
        assert result.applied
        assert result.inbox.db.execute("SELECT street FROM taxpayers").fetchone() == ("Marienplatz",)

`released` builds the `ReleasedEvent` a handler would get, with only the chosen fields released
(the others raise WithheldFieldError, as in production). `handle_once` runs the handler as the
SDK does, inside the inbox's transaction against an in-memory inbox, and says what the SDK would
do next: applied, a duplicate, a retry, or a dead letter with its reason.
"""

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import uuid_utils

from bus.catalog import Event
from consumers.consumer import Handler
from consumers.handling import DeadLetter, Retry, Skip, after_failure
from consumers.inbox import InboxOutcome, SqliteInbox
from consumers.retry import RetryPolicy
from consumers.view import ReleasedEvent

E = TypeVar("E", bound=Event)


def released(
    event: E,
    purpose: str,
    *,
    fields: Iterable[str] | None = None,
    consumer: str = "test-consumer",
    source: str = "test-producer",
    event_id: str | None = None,
    time: datetime | None = None,
) -> ReleasedEvent[E]:
    """`event` as delivered for `purpose`, with `fields` released (None: all of them). A name the
    event type does not have is refused (ValueError), so a typo cannot pass as withheld."""
    names = list(type(event).model_fields) if fields is None else list(fields)
    unknown = [n for n in names if n not in type(event).model_fields]
    if unknown:
        raise ValueError(f"{type(event).event_type} has no field(s) {', '.join(unknown)}")
    return ReleasedEvent(
        event_id=event_id or str(uuid_utils.uuid7()),
        event_class=type(event),
        source=source,
        time=time or datetime.now(UTC),
        consumer=consumer,
        purpose=purpose,
        fields={name: getattr(event, name) for name in names},
    )


@dataclass(frozen=True)
class HandlerResult:
    """What one `handle_once` did: `step` is what the SDK does next (None: applied), `error` what
    the handler raised, `inbox` the database it wrote to (to assert on its tables)."""

    step: Skip | Retry | DeadLetter | None
    error: BaseException | None
    inbox: SqliteInbox

    @property
    def applied(self) -> bool:
        """The handler's writes and the inbox entry committed."""
        return self.step is None


async def handle_once(
    handler: Handler[sqlite3.Connection],
    event: ReleasedEvent[Any],
    *,
    inbox: SqliteInbox | None = None,
    setup: str = "",
    retry: RetryPolicy | None = None,
) -> HandlerResult:
    """Run `handler` on `event` once, as the SDK does: in the inbox's transaction with the inbox
    entry, or skipped if the inbox has the delivery already. `inbox`: an in-memory one by default,
    on which the SQL script `setup` (the back office's tables) runs first."""
    inbox = inbox or SqliteInbox.in_memory()
    if setup:
        inbox.db.executescript(setup)
    if inbox.seen(event.source, event.id, event.purpose) is not None:
        return HandlerResult(Skip(), None, inbox)
    try:
        with inbox.transaction() as db:
            await handler(event, db)
            inbox.record(
                db, event.source, event.id, event.event_type, event.purpose, InboxOutcome.APPLIED
            )
    except Exception as exc:
        lost = inbox.seen(event.source, event.id, event.purpose) is not None
        return HandlerResult(after_failure(exc, 1, retry or RetryPolicy(), lost), exc, inbox)
    return HandlerResult(None, None, inbox)
