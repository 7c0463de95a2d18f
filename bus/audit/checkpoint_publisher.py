"""The indexer's checkpoints onto the witness topic, without weakening its exactly-once.

A checkpoint is committed in the store's transaction first and published after, so the witness
never holds a checkpoint the store did not commit (kill -9 between the two leaves it unpublished,
not lost). At start, and after any failed send, the publisher reads the witness and publishes, in
seq order, every stored checkpoint after the newest one there: idempotent by checkpoint seq. A
checkpoint published twice (a send that succeeded just before a crash) is the same checkpoint,
and `verify` matches checkpoints by seq and hash. A broker that refuses a send does not stop the
indexing: the checkpoints wait in the store and are published once it answers again.
"""

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bus.audit.audit_key import KEY_NAME
from bus.audit.checkpoint import Checkpoint
from bus.audit.store.audit_store import AuditStore
from bus.audit.witness import Witness, encode_checkpoint, read_witness
from bus.errors import BrokerError
from bus.kafka.connection import KafkaConnection
from bus.keys import AgencySigningKey
from bus.keys.keystore import public_key_from_pem

log = logging.getLogger(__name__)
# After a failure: how long the indexer stores on before it reads the witness and sends again
# (each try reads the whole witness topic; a refused WRITE must not cost that on every batch).
RETRY_AFTER_S = 30.0


class CheckpointPublisher:
    def __init__(self, connection: KafkaConnection, topic: str, key: AgencySigningKey) -> None:
        self._connection, self.topic = connection, topic
        self._public = public_key_from_pem(KEY_NAME, key.public_pem())
        self._producer: AIOKafkaProducer | None = None  # made in start: only ever a started one
        self._published: int | None = None  # newest seq on the witness; None: read it first
        self._retry_at = 0.0  # monotonic
        self.witness_at_start: Witness | None = None

    async def start(self, store: AuditStore) -> None:
        producer = AIOKafkaProducer(
            **self._connection.aiokafka_kwargs(), acks="all", enable_idempotence=True
        )
        await producer.start()
        self._producer = producer
        await self.catch_up(store)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    @property
    def behind(self) -> bool:
        return self._published is None

    async def published(self, store: AuditStore, signed: list[Checkpoint]) -> None:
        """After an append committed: publish what it signed (or catch up, after a failure)."""
        if self._published is None:
            if time.monotonic() >= self._retry_at:
                await self.catch_up(store)
        elif signed:
            await self._send(signed)

    async def catch_up(self, store: AuditStore) -> None:
        """Publish every stored checkpoint the witness does not have yet."""
        try:
            if self._published is None:
                witness = await read_witness(self._connection, self.topic, self._public)
                self.witness_at_start = self.witness_at_start or witness
                self._published = witness.newest_seq
            pending = await asyncio.to_thread(store.checkpoints, self._published)
        except (KafkaError, BrokerError) as exc:
            self._failed(exc)
            return
        await self._send(pending)

    async def _send(self, checkpoints: list[Checkpoint]) -> None:
        if self._producer is None:
            raise RuntimeError("CheckpointPublisher.start was not called")
        try:
            for checkpoint in checkpoints:
                if self._published is not None and checkpoint.seq <= self._published:
                    continue
                if checkpoint.positions is None:
                    continue  # signed before schema 2: it covers no positions, nothing to witness
                await self._producer.send_and_wait(
                    self.topic, encode_checkpoint(checkpoint),
                    key=str(checkpoint.seq).encode(), partition=0,
                )  # fmt: skip
                self._published = checkpoint.seq
        except KafkaError as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self._published = None  # read the witness again before the next send
        self._retry_at = time.monotonic() + RETRY_AFTER_S
        log.warning(
            "cannot publish checkpoints to the witness topic yet; they wait in the store",
            extra={"topic": self.topic, "error": repr(exc)},
        )
