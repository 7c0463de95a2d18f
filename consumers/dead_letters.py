"""Deliveries the SDK could not verify or handle go to the consumer's own dead-letter topic:
the original bytes untouched, with the reason, so nothing is lost and an operator can replay."""

from aiokafka import ConsumerRecord

from bus.kafka.connection import KafkaConnection
from bus.kafka.position import record_position
from bus.kafka.topics import dead_letter_topic
from consumers.own_topic import OwnTopicProducer

HANDLER_FAILED = "HANDLER_FAILED"
NO_HANDLER = "NO_HANDLER"
# The handler raised RejectDelivery: the back office refuses this delivery for good.
HANDLER_REJECTED = "HANDLER_REJECTED"
# No valid `bus_erase_by`: applying it would keep data no purge could ever find due.
NO_ERASE_BY = "NO_ERASE_BY"
WRONG_PURPOSE = "WRONG_PURPOSE"


class DeadLetters(OwnTopicProducer):
    """The producer of one consumer's dead-letter topic; `start` it before `park`, `stop` after.

    Parameters:
        consumer: the consuming agency, whose dead-letter topic this writes.
        connection: the broker address and the agency's credentials.
    """

    def __init__(self, consumer: str, connection: KafkaConnection) -> None:
        super().__init__(dead_letter_topic(consumer), connection)

    async def park(
        self, record: ConsumerRecord[bytes, bytes], reason: str, detail: str, attempts: int
    ) -> None:
        """Copy `record` (key, value and headers unchanged) to the dead-letter topic, with the
        reason, a detail (cut to 2,000 characters), the handler attempts made and the record's
        position. Returns once the broker has it (acks=all)."""
        headers = [
            *(record.headers or ()),
            ("bus_deadletter_reason", reason.encode()),
            ("bus_deadletter_detail", detail[:2000].encode()),
            ("bus_deadletter_attempts", str(attempts).encode()),
            ("bus_input", position(record).encode()),
        ]
        await self._producer.send_and_wait(
            self.topic, record.value or b"", key=record.key, headers=headers
        )


def position(record: ConsumerRecord[bytes, bytes]) -> str:
    """Where `record` was read, as `topic/partition/offset` (logs and the bus_input header)."""
    return record_position(record.topic, record.partition, record.offset)
