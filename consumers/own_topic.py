"""A producer of one of the consuming agency's own topics (dead letters, erasures), as the agency:
acks from every in-sync replica, idempotent. `start` it before writing, `stop` after."""

from aiokafka import AIOKafkaProducer

from bus.kafka.connection import KafkaConnection


class OwnTopicProducer:
    """Writes `topic` with the agency's own credentials (its ACLs allow no other topic).

    Parameters:
        topic: the agency's own topic.
        connection: the broker address and the agency's credentials.
    """

    def __init__(self, topic: str, connection: KafkaConnection) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            **connection.aiokafka_kwargs(), acks="all", enable_idempotence=True
        )

    async def start(self) -> None:
        """Connect the producer."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect the producer."""
        await self._producer.stop()
