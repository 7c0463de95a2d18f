"""Deliveries the SDK could not verify or handle go to the consumer's own dead-letter topic:
the original bytes untouched, with the reason, so nothing is lost and an operator can replay."""

from aiokafka import AIOKafkaProducer, ConsumerRecord

from bus.kafka.connection import KafkaConnection
from bus.kafka.position import record_position
from bus.kafka.topics import dead_letter_topic

HANDLER_FAILED = "HANDLER_FAILED"
NO_HANDLER = "NO_HANDLER"
WRONG_PURPOSE = "WRONG_PURPOSE"


class DeadLetters:
    """The producer of one consumer's dead-letter topic; `start` it before `park`, `stop` after.

    Parameters:
        consumer: the consuming agency, whose dead-letter topic this writes.
        connection: the broker address and the agency's credentials.
    """

    def __init__(self, consumer: str, connection: KafkaConnection) -> None:
        self.topic = dead_letter_topic(consumer)
        self._producer = AIOKafkaProducer(
            **connection.aiokafka_kwargs(), acks="all", enable_idempotence=True
        )

    async def start(self) -> None:
        """Connect the producer."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect the producer."""
        await self._producer.stop()

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
