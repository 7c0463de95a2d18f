"""The producer of a consumer's erasures topic: one erasure record per erased delivery, on the
agency's own topic (bus.erasures.<agency>), which only it may write and the audit trail reads."""

from bus.envelope.attributes import format_time
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import erasures_topic
from bus.record.erasure_record import ErasureRecord
from consumers.erasure_queue import InboxEntry
from consumers.own_topic import OwnTopicProducer


class ErasureRecords(OwnTopicProducer):
    """`start` it before `send`, `stop` after.

    Parameters:
        consumer: the consuming agency, whose erasures topic this writes.
        connection: the broker address and the agency's credentials.
    """

    def __init__(self, consumer: str, connection: KafkaConnection) -> None:
        super().__init__(erasures_topic(consumer), connection)

    async def send(self, entries: list[InboxEntry]) -> None:
        """One record per erased entry, keyed by event id; returns once the broker has them all
        (acks=all). The records name no person: the audit trail joins them to its decisions."""
        pending = [
            await self._producer.send(
                self.topic, erasure_record(e).to_json_bytes(), key=e.event_id.encode()
            )
            for e in entries
        ]
        for sent in pending:
            await sent


def erasure_record(entry: InboxEntry) -> ErasureRecord:
    """The erasure record of an erased inbox entry."""
    if entry.erased_at is None:
        raise ValueError(f"{entry.event_id} for {entry.purpose} is not erased")
    return ErasureRecord(
        source=entry.source,
        event_id=entry.event_id,
        purpose=entry.purpose,
        event_type=entry.event_type,
        erase_by=format_time(entry.erase_by),
        erased_at=format_time(entry.erased_at),
    )
