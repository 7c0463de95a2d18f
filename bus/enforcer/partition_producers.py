"""One transactional producer per input partition: the fencing that is safe without KIP-447.

aiokafka commits offsets in a transaction without consumer-group metadata, so a paused "zombie"
could still commit after a rebalance. With a stable transactional.id per input partition, the new
owner's init_transactions fences the old owner's producer and finishes its pending transaction
before the new owner reads the committed offset (tests/integration/test_enforcer_zombie.py).
"""

from aiokafka import AIOKafkaProducer, TopicPartition

from bus.control.topology import QUARANTINE_MAX_MESSAGE_BYTES
from bus.kafka.connection import KafkaConnection


class PartitionProducers:
    """The enforcer's transactional producers, one per input partition it owns.

    Parameters:
        connection: the broker and the enforcer's credentials.
        transactional_prefix: prefix of every transactional id (`<prefix>.<topic>.<partition>`).
    """

    def __init__(self, connection: KafkaConnection, transactional_prefix: str) -> None:
        self._connection = connection
        self._prefix = transactional_prefix
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}

    def transactional_id(self, tp: TopicPartition) -> str:
        """The stable transactional id of input partition `tp`'s producer."""
        return f"{self._prefix}.{tp.topic}.{tp.partition}"

    def get(self, tp: TopicPartition) -> AIOKafkaProducer | None:
        """The started producer for `tp`, or None."""
        return self._producers.get(tp)

    def partitions(self) -> list[TopicPartition]:
        """The input partitions that have a started producer."""
        return list(self._producers)

    async def start(self, tp: TopicPartition) -> AIOKafkaProducer:
        """Start (and so fence any previous owner of) the producer for `tp`."""
        await self.stop(tp)
        producer = AIOKafkaProducer(
            **self._connection.aiokafka_kwargs(),
            transactional_id=self.transactional_id(tp),
            acks="all",
            enable_idempotence=True,
            # The largest record the loop writes is a quarantine copy of the largest ingress record.
            max_request_size=QUARANTINE_MAX_MESSAGE_BYTES,
        )
        await producer.start()
        self._producers[tp] = producer
        return producer

    async def stop(self, tp: TopicPartition) -> None:
        """Stop and drop `tp`'s producer, if it has one."""
        producer = self._producers.pop(tp, None)
        if producer is not None:
            await producer.stop()

    async def stop_all(self) -> None:
        """Stop every producer."""
        for tp in list(self._producers):
            await self.stop(tp)
