"""The audit topic read from the moment a test starts watching: to wait for the enforcer's decision
about an event, not for the wording of a log line (a log's wording is no contract; the audit
record is what the bus promises)."""

import asyncio
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer

from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC

AuditDocument = dict[str, Any]


class AuditTail:
    """Every committed audit record written after `__aenter__`, in `seen` as they are read.

    `async with AuditTail(connection) as audits: ... await audits.wait_for(condition)`."""

    def __init__(self, connection: KafkaConnection, topic: str = AUDIT_TOPIC) -> None:
        self._topic = topic
        self._consumer = AIOKafkaConsumer(
            topic,
            **connection.aiokafka_kwargs(),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        self.seen: list[AuditDocument] = []

    async def __aenter__(self) -> "AuditTail":
        await self._consumer.start()  # without a group: every partition of the topic is assigned
        assigned = list(self._consumer.assignment())
        assert assigned, f"{self._topic} does not exist: nothing could be watched"
        await self._consumer.seek_to_end(*assigned)
        for tp in assigned:  # resolve the end now: records written from here on are all read
            await self._consumer.position(tp)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._consumer.stop()

    async def read(self, wait_s: float) -> list[AuditDocument]:
        """The records that arrive within the next `wait_s` seconds (added to `seen` too)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + wait_s
        new: list[AuditDocument] = []
        while (left := until - loop.time()) > 0:
            batch = await self._consumer.getmany(timeout_ms=max(1, int(left * 1000)))
            new += [json.loads(r.value) for records in batch.values() for r in records if r.value]
        self.seen += new
        return new

    async def wait_for(
        self, condition: Callable[[AuditDocument], bool], timeout_s: float = 60
    ) -> AuditDocument:
        """The first record seen so far or arriving within `timeout_s` that meets `condition`;
        AssertionError after that."""
        for _ in range(int(timeout_s)):
            if found := self._first(condition):
                return found
            await self.read(wait_s=1)
        if found := self._first(condition):
            return found
        raise AssertionError(f"no such audit record within {timeout_s:.0f} s on {self._topic}")

    def _first(self, condition: Callable[[AuditDocument], bool]) -> AuditDocument | None:
        return next((a for a in self.seen if condition(a)), None)
