"""What a batch wrote, delivered before the batch's audit records are acknowledged.

faust commits the audit topic's offsets after `producer.flush()`, but that flush does not wait
for every write: its buffer's `flush_atmost` returns after 0.1 s without progress, and it counts
a changelog write as gone once taken off the buffer, before aiokafka holds it (faust-streaming
0.15.3, transport/producer.py). A commit could then cover records whose table writes were never
sent, and a kill -9 would lose those counts for good: an alert that the rest of the records would
have raised is never raised. (Found reading faust's code while chasing a lost alert in
tests/integration/test_watch.py's kill test; the cause seen there was head_gap.py's.) So the
watch waits for each write's delivery itself, in the batch's body, before faust may acknowledge
the batch."""

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import faust
from faust.types import FutureMessage

Sent = TypeVar("Sent", bound=Awaitable[Any])


class Deliveries:
    """The writes sent and not yet known delivered: futures that resolve when the broker
    acknowledges the write, and fail when the send failed."""

    def __init__(self) -> None:
        self._pending: list[asyncio.Future[Any]] = []

    def track(self, sent: Sent) -> Sent:
        """Remember `sent` (a future) until a `delivered` sees it done; returns it."""
        self._pending.append(asyncio.ensure_future(sent))
        return sent

    async def delivered(self) -> int:
        """Wait until every write tracked so far is acknowledged; how many it waited for. Raises
        the first send error (the caller must then not let its batch be committed).

        Callers may overlap (the batch body and a timer): each waits for everything tracked
        when it was called, and none takes another's writes off the list before they are done."""
        pending = list(self._pending)
        if pending:
            await asyncio.gather(*pending)
        self._pending = [sent for sent in self._pending if not sent.done()]
        return len(pending)


class TrackedTable(faust.Table[str, Any]):
    """A faust table whose changelog writes are tracked by `deliveries` (set after creation)."""

    deliveries: Deliveries

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        """faust's, tracked."""
        return self.deliveries.track(super().send_changelog(*args, **kwargs))


def tracked_table(
    app: faust.App, name: str, partitions: int, deliveries: Deliveries
) -> TrackedTable:
    """app.Table(name, …), tracked: None by default, written through the partitioner (one key,
    one changelog partition, whatever audit partition the record came from; the memory store
    needs one process holding them all, app.py)."""
    table = TrackedTable(
        app,
        name=name,
        default=type(None),
        beacon=app.tables.beacon,
        partitions=partitions,
        use_partitioner=True,
    )
    table.deliveries = deliveries
    app.tables.add(table)
    return table
