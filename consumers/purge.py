"""Storage limitation in the back office: erase what the bus said must be gone, and say so.

For each inbox entry whose deadline (`bus_erase_by`) has passed, the back office's erase handler
for that purpose and event type deletes or anonymises what the event wrote, in one database
transaction with the mark that the entry is erased; then every erased entry not yet reported gets
an erasure record on the agency's erasures topic. An entry with no erase handler, or whose
handler fails, stays due (and shows as overdue in the citizen's report) until a purge erases it.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from consumers.erasure_queue import InboxEntry
from consumers.erasure_records import ErasureRecords
from consumers.inbox_protocol import C, Inbox

log = logging.getLogger(__name__)

# Deletes or anonymises, through the inbox's connection it is given, what the entry's event wrote.
Eraser = Callable[[InboxEntry, C], Awaitable[None]]
BATCH = 500


@dataclass
class PurgeResult:
    """What one purge did: entries erased, erasure records sent, entries left due because their
    erase handler failed or none is registered for their purpose and event type."""

    erased: int = 0
    reported: int = 0
    failed: int = 0
    no_eraser: int = 0


async def purge(
    inbox: Inbox[C],
    erasers: Mapping[tuple[str, str], Eraser[C]],
    records: ErasureRecords | None,
    now: datetime,
    progress: Callable[[PurgeResult], None] | None = None,
) -> PurgeResult:
    """Erase every entry due at `now` through `erasers` (by purpose and event type), then report
    the erased ones through `records` (None: leave them for the next purge that can).
    `progress` is called after each batch."""
    result = PurgeResult()
    while entries := inbox.due_entries(now, BATCH, skip=result.failed + result.no_eraser):
        for entry in entries:
            await _erase(inbox, erasers.get((entry.purpose, entry.event_type)), entry, now, result)
        if progress:
            progress(result)
    if records is not None:
        waiting = inbox.unreported()
        if waiting:
            await records.send(waiting)
            inbox.mark_reported(waiting, now)
            result.reported = len(waiting)
            if progress:
                progress(result)
    return result


async def _erase(
    inbox: Inbox[C],
    eraser: Eraser[C] | None,
    entry: InboxEntry,
    now: datetime,
    result: PurgeResult,
) -> None:
    if eraser is None:
        result.no_eraser += 1
        log.warning(
            "overdue: no erase handler for %s delivered for %r",
            entry.event_type,
            entry.purpose,
            extra={"event_id": entry.event_id},
        )
        return
    try:
        with inbox.transaction() as db:
            await eraser(entry, db)
            inbox.mark_erased(db, entry, now)
    except Exception as exc:  # the next purge tries again; the entry stays due meanwhile
        result.failed += 1
        log.warning("erase handler failed on %s: %r", entry.event_id, exc)
        return
    result.erased += 1
