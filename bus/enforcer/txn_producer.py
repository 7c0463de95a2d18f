"""The enforcer's one transactional producer (librdkafka), and what it does after a failure.

One per process, not one per input partition: fencing comes from the consumer group's metadata
(KIP-447). `send_offsets_to_transaction` carries the group's generation, so a "zombie" that lost
its partitions in a rebalance cannot commit its offsets, and its transaction aborts. The
transactional id is stable per worker (`<group>.tx.<instance>`): a restarted worker fences its
crashed predecessor and settles its pending transaction at once, instead of after
transaction.timeout.ms.

Batching: a transaction's records (8 per event with 4 subscriptions, hundreds of events per
transaction) should leave in few large requests, because the broker's CPU follows requests, not
bytes (issue 15 measured 150–250 µs of broker CPU per event with small batches, 83–118 µs at
linger 100 ms). commit_transaction flushes at once whatever lingers, so linger only decides how
records fill batches while the transaction is being built; it adds no latency at the commit.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from confluent_kafka import (
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from bus.control.topology import QUARANTINE_MAX_MESSAGE_BYTES
from bus.enforcer.failures import kafka_error
from bus.enforcer.records import RecordHeaders
from bus.kafka.connection import KafkaConnection

log = logging.getLogger("bus.enforcer.service")
# librdkafka's own lines go to stderr: no Python `logger` in the configuration. It was removed
# when a thawed worker aborted in confluent-kafka (CallState_get: Assertion `cs != NULL`); the
# cause proved to be blocking consumer calls inside on_assign (owned_partitions.py), so a logger
# may come back once the zombie test has run with it.
LINGER_MS = 100
BATCH_BYTES = 1 << 20
OPERATION_TIMEOUT_S = 30.0  # init, offsets, commit, abort: then the transaction counts as failed
# librdkafka may not honour that timeout: send_offsets_to_transaction can block for good after the
# group coordinator went away (librdkafka issues 5456 and 5511, open; seen here after a broker
# restart). Each transactional call therefore runs in a thread of the producer's own and is given
# up this much later; the producer is then abandoned (its stuck thread with it) and replaced.
WATCHDOG_MARGIN_S = 10.0
T = TypeVar("T")


class StuckCallError(Exception):
    """A transactional call of librdkafka did not return in time; the producer is replaced."""


class TransactionalProducer:
    """A started librdkafka producer with `transactional_id`, renewed after a fatal error.

    Parameters:
        connection: the broker and the enforcer's credentials.
        transactional_id: stable per worker; the previous holder of the id is fenced.
    """

    def __init__(self, connection: KafkaConnection, transactional_id: str) -> None:
        self._config = {
            **connection.confluent_config(),
            "transactional.id": transactional_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": LINGER_MS,
            "batch.size": BATCH_BYTES,
            # The largest record written is a quarantine copy of the largest ingress record.
            "message.max.bytes": QUARANTINE_MAX_MESSAGE_BYTES,
        }
        self.transactional_id = transactional_id
        self._stuck = False
        self.producer = self._started()

    def _started(self) -> Producer:
        producer = Producer(self._config)
        self._guarded(producer.init_transactions, OPERATION_TIMEOUT_S)
        return producer

    def _guarded(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` in a daemon thread of its own, given up after the watchdog's time. Not a
        thread pool: Python joins a pool's threads at exit, so one stuck call would keep the
        process from ever ending (a SIGTERM'd worker hung so in the cluster fault test)."""
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                outcome["value"] = call(*args)
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, name="txn-call", daemon=True).start()
        if not done.wait(OPERATION_TIMEOUT_S + WATCHDOG_MARGIN_S):
            self._stuck = True
            raise StuckCallError(
                f"{getattr(call, '__name__', 'a transactional call')} did not return in "
                f"{OPERATION_TIMEOUT_S + WATCHDOG_MARGIN_S:.0f} s"
            )
        if "error" in outcome:
            raise outcome["error"]
        return cast(T, outcome["value"])

    def begin(self) -> None:
        """Open a transaction."""
        self.producer.begin_transaction()

    def send_offsets(self, offsets: list[TopicPartition], group: object) -> None:
        """Add the input offsets to the open transaction, fenced by the group's generation
        (`group`: the consumer's consumer_group_metadata())."""
        self._guarded(
            self.producer.send_offsets_to_transaction, offsets, group, OPERATION_TIMEOUT_S
        )

    def commit(self) -> None:
        """Commit the open transaction (sends whatever is queued first)."""
        self._guarded(self.producer.commit_transaction, OPERATION_TIMEOUT_S)

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: RecordHeaders = (),
        partition: int = -1,
    ) -> None:
        """Queue one record of the open transaction; waits while the local queue is full."""
        # The client takes a list; the loop's records already carry one (no copy per record).
        listed = headers if isinstance(headers, list) else list(headers)
        while True:
            try:
                self.producer.produce(topic, value, key, partition, headers=listed)
                return
            except BufferError:  # the queue drains as batches are sent
                self.producer.poll(0.05)

    def recover(self, error: BaseException) -> None:
        """After `error` inside a transaction: abort it, or, if the producer cannot go on (a fatal
        error, or the abort failing), replace it; the new one's init_transactions settles (aborts)
        whatever the old one left open."""
        cause = kafka_error(error)
        fatal = cause is not None and cause.fatal()
        if not fatal and not self._stuck:
            try:
                self._guarded(self.producer.abort_transaction, OPERATION_TIMEOUT_S)
                return
            except KafkaException as exc:  # e.g. no transaction was open: that is fine
                refusal = kafka_error(exc)
                if refusal is not None and refusal.code() == KafkaError._STATE:
                    return
                log.warning("aborting the transaction failed (%s): a new producer", exc)
            except StuckCallError as exc:
                log.warning("aborting the transaction failed (%s): a new producer", exc)
        self.renew()

    def renew(self) -> None:
        """Replace the producer by a new one with the same transactional id. A stuck one is
        abandoned as it is: touching it could block too."""
        if self._stuck:
            log.error(
                "librdkafka's transactional call is stuck: abandoning its producer and thread"
            )
            self._stuck = False
        else:
            try:
                self.producer.purge()
            except Exception as exc:  # the old one is dropped either way
                log.debug("purging the old producer failed: %s", exc)
        self.producer = self._started()

    def close(self) -> None:
        """Between transactions: nothing is open; sends whatever is queued and lets go."""
        if not self._stuck:
            self.producer.flush(OPERATION_TIMEOUT_S)
