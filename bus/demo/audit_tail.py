"""Follows the audit topic from "now" on: the demo judges only the decisions of its own run."""

import json
from typing import Any

from aiokafka import AIOKafkaConsumer

from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC


class AuditTail:
    """The audit records written since `start`, decoded, in `records`. `connection`: a principal
    that may read the audit topic."""

    def __init__(self, connection: KafkaConnection) -> None:
        # A topic but no group: every partition is assigned at start, nothing is committed.
        self._consumer = AIOKafkaConsumer(
            AUDIT_TOPIC,
            **connection.aiokafka_kwargs(),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        self.records: list[dict[str, Any]] = []

    async def start(self) -> None:
        """Begin following at the topic's current end."""
        await self._consumer.start()
        assigned = sorted(self._consumer.assignment())
        await self._consumer.seek_to_end(*assigned)
        for tp in assigned:  # resolve the end offsets now, before the scenario writes anything
            await self._consumer.position(tp)

    async def poll(self) -> None:
        """Append the records that arrived since the last poll (waits briefly for some)."""
        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            self.records += [json.loads(r.value) for r in records]

    async def stop(self) -> None:
        """Close the consumer."""
        await self._consumer.stop()
