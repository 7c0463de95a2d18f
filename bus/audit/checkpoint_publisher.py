"""The indexer's checkpoints onto the witness topic, without weakening its exactly-once.

A checkpoint is committed in the store's transaction first and published after, so the witness
never holds a checkpoint the store did not commit (kill -9 between the two leaves it unpublished,
not lost). At start, and after any failed send, the publisher reads the witness and publishes, in
seq order, every stored checkpoint after the newest one there: idempotent by checkpoint seq. A
checkpoint published twice (a send that succeeded just before a crash) is the same checkpoint,
and `verify` matches checkpoints by seq and hash. A broker that refuses a send does not stop the
indexing: the checkpoints wait in the store and are published once it answers again.

At start the store must not be behind its witness (a checkpoint published but not in the store:
records or checkpoints were deleted, or an old backup restored): the indexer refuses to start
rather than sign a second history over the first. A checkpoint published later than `verify`
expects it (`late_after`: its cadence, the retry interval and a grace, given by the caller) is
still published, since a crash between commit and send is legitimate, but said loudly (log line,
`bus_audit_witness_late_checkpoints_total`): whoever holds the audit key could have signed it
in the store and left it to the indexer to publish.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bus.audit.audit_key import KEY_NAME
from bus.audit.checkpoint import Checkpoint
from bus.audit.store.audit_store import AuditStore
from bus.audit.witness import Witness, encode_checkpoint, read_witness
from bus.envelope.attributes import parse_time
from bus.errors import BrokerError, ConfigError
from bus.kafka.connection import KafkaConnection
from bus.keys import AgencySigningKey
from bus.keys.keystore import public_key_from_pem

log = logging.getLogger(__name__)
# After a failure: how long the indexer stores on before it reads the witness and sends again
# (each try reads the whole witness topic; a refused WRITE must not cost that on every batch).
RETRY_AFTER_S = 30.0


LateAfter = Callable[[Checkpoint], timedelta]


class CheckpointPublisher:
    """Publishes the store's checkpoints to the witness topic (see above): `start` it with the
    store, tell it `published` after each append, `stop` it at the end.

    Parameters:
        connection: the broker and the indexer's credentials.
        topic: the witness topic.
        key: the audit key; its public half reads the witness back.
        late_after: how long after its signing a checkpoint may be published before it counts
            as late; None: never.
        on_late: called with each late checkpoint (the indexer counts them).
    """

    def __init__(
        self,
        connection: KafkaConnection,
        topic: str,
        key: AgencySigningKey,
        late_after: LateAfter | None = None,
        on_late: Callable[[Checkpoint], None] | None = None,
    ) -> None:
        self._connection, self.topic = connection, topic
        self._public = public_key_from_pem(KEY_NAME, key.public_pem())
        self._late_after, self._on_late = late_after, on_late
        self._producer: AIOKafkaProducer | None = None  # made in start: only ever a started one
        self._published: int | None = None  # newest seq on the witness; None: read it first
        self._retry_at = 0.0  # monotonic

    async def start(self, store: AuditStore) -> None:
        """Read the witness (ConfigError if the store is behind it), then publish what waits."""
        producer = AIOKafkaProducer(
            **self._connection.aiokafka_kwargs(), acks="all", enable_idempotence=True
        )
        await producer.start()
        self._producer = producer
        await self.catch_up(store)

    async def stop(self) -> None:
        """Flush and disconnect the producer."""
        if self._producer is not None:
            await self._producer.stop()

    @property
    def behind(self) -> bool:
        """Whether the witness is not known to hold every stored checkpoint (after a failure)."""
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
                await asyncio.to_thread(refuse_a_store_behind, store, witness)
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
                self._say_if_late(checkpoint)
                await self._producer.send_and_wait(
                    self.topic,
                    encode_checkpoint(checkpoint),
                    key=str(checkpoint.seq).encode(),
                    partition=0,
                )
                self._published = checkpoint.seq
        except KafkaError as exc:
            self._failed(exc)

    def _say_if_late(self, checkpoint: Checkpoint) -> None:
        if self._late_after is None:
            return
        late = datetime.now(UTC) - parse_time(checkpoint.signed_at) - self._late_after(checkpoint)
        if late <= timedelta(0):
            return
        log.warning(
            "publishing a checkpoint later than verify expects it on the witness topic: after a "
            "crash between commit and send this is expected; otherwise someone holding the audit "
            "key may have signed it in the store (check the indexer's history)",
            extra={
                "topic": self.topic,
                "seq": checkpoint.seq,
                "signed_at": checkpoint.signed_at,
                "late_s": round(late.total_seconds()),
            },
        )
        if self._on_late is not None:
            self._on_late(checkpoint)

    def _failed(self, exc: Exception) -> None:
        self._published = None  # read the witness again before the next send
        self._retry_at = time.monotonic() + RETRY_AFTER_S
        log.warning(
            "cannot publish checkpoints to the witness topic yet; they wait in the store",
            extra={"topic": self.topic, "error": repr(exc)},
        )


def refuse_a_store_behind(store: AuditStore, witness: Witness) -> None:
    """ConfigError if a checkpoint on the witness is not in the store (by seq and hash): records
    or checkpoints were deleted, or an older backup restored. Indexing on would sign a second
    history over the witnessed one; `bus audit verify` names what exactly is gone."""
    for rejected in witness.rejected:
        log.error(
            "a record on the witness topic is not a checkpoint signed by the audit key",
            extra={"topic": witness.topic, "offset": rejected.offset, "why": rejected.why},
        )
    stored = {(cp.seq, cp.chain_hash) for cp in store.checkpoints()}
    gone = [cp for cp in witness.checkpoints if (cp.seq, cp.chain_hash) not in stored]
    if not gone:
        return
    head_seq, _ = store.head()
    raise ConfigError(
        f"the audit store {store.description} is behind its witness topic {witness.topic}: "
        f"{len(gone)} witnessed checkpoint(s) are not in it, the first at record {gone[0].seq} "
        f"(the store ends at record {head_seq}). Records or checkpoints were deleted, or an older "
        "backup restored: refusing to index on. Run `bus audit verify` to see what is gone"
    )
