"""Issue 12: nothing outside process() stops the enforcer's loop either. A stand-in processor
plays the faults: a naive event time (the pipeline refuses those now; from another processor one
made metrics raise after the commit, once per event), an exception, an output no request can
carry (retried forever before), and a state that fails for a while (the partition stalls with an
alert, and flows again). The loop never exits, every record is committed exactly once, and what
cannot be written is set aside in quarantine."""

import asyncio
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from confluent_kafka import Consumer, Producer
from prometheus_client import CollectorRegistry

from bus.control.topology import QUARANTINE_MAX_MESSAGE_BYTES, ensure_bus_topics
from bus.enforcer import seen_journal
from bus.enforcer.failures import ALONE_ATTEMPTS, BATCH_ATTEMPTS, Plan, RetryTimes
from bus.enforcer.input_records import Batch
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.observer import Partition
from bus.enforcer.pipeline import EnforcerState, InRecord, Outcome
from bus.enforcer.records import OutRecord
from bus.enforcer.seen_events import SeenInBatch
from bus.enforcer.service import Enforcer, JournalWriter
from bus.enforcer.txn_producer import TransactionalProducer
from bus.envelope.kafka_binding import header_map
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import QUARANTINE_TOPIC
from bus.keys import AgencySigningKey
from bus.policy.decision import Decision, Reason
from bus.policy.decision import Outcome as Verdict
from tests.support.enforcer_loop import run_until, until
from tests.support.enforcer_process import state_for
from tests.support.kafka import read_topic, unique_name

TYPE = "population.AddressChanged"
# The stand-in processor and quarantine need only a snapshot hash and pseudonyms from the state.
STATE = state_for(
    {
        "consumers": ["tax-a"],
        "producer": "muni-muc",
        "producer_public_pem": AgencySigningKey.generate("muni-muc").public_pem().decode(),
    }
)


def stand_in(out: str) -> Callable[[InRecord, EnforcerState, datetime], Outcome]:
    def process(record: InRecord, state: EnforcerState, now: datetime) -> Outcome:
        value = record.value or b""
        if value == b"raise":
            raise ZeroDivisionError
        if value == b"huge":  # larger than any request the enforcer's producer may send
            return Outcome([OutRecord(out, None, b"x" * (QUARANTINE_MAX_MESSAGE_BYTES + 1))], [])
        decision = Decision(Verdict.PERMIT, (Reason.GRANTED,), "tax", TYPE, "tax", "sha256:x")
        when = datetime(2026, 1, 1) if value == b"naive" else now  # naive: the fault
        return Outcome(
            [OutRecord(out, record.key, value)],
            [decision],
            event_id=f"{record.topic}/{record.partition}/{record.offset}",
            producer="muni",
            event_time=when,
        )

    return process


async def test_faults_outside_process_never_stop_the_loop(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
) -> None:
    ingress, out = topic_factory("ingress"), topic_factory("out")
    ensure_bus_topics(kafka_admin, [])
    values = [f"ok-{i}".encode() for i in range(30)]
    values[5:5] = [b"naive"]
    values[12:12] = [b"raise"]
    values[20:20] = [b"huge"]
    await _publish(kafka_broker, ingress, values)

    registry = CollectorRegistry()
    # The bounds are counted, not timed.
    times = RetryTimes(first_backoff_s=0.05)
    enforcer = _enforcer(kafka_broker, ingress, out, _no_state, registry, times)
    await run_until(enforcer, len(values))  # its journal goes with the topic

    delivered = [r.value for r in await read_topic(kafka_broker, out)]
    assert sorted(delivered) == sorted(v for v in values if v not in (b"raise", b"huge"))
    set_aside = {
        r.value[:10]: header_map(r.headers)
        for r in await read_topic(kafka_broker, QUARANTINE_TOPIC)
        if header_map(r.headers)["bus_input"].startswith(f"{ingress}/")
    }
    assert set(set_aside) == {b"raise", b"huge"}
    assert set_aside[b"raise"]["bus_quarantine_reason"] == "INTERNAL_ERROR"
    assert "ZeroDivisionError" in set_aside[b"raise"]["bus_quarantine_detail"]
    assert set_aside[b"huge"]["bus_quarantine_reason"] == "INTERNAL_ERROR"
    assert "MSG_SIZE_TOO_LARGE" in set_aside[b"huge"]["bus_quarantine_detail"]
    sample = registry.get_sample_value
    # The naive event time was skipped by the latency metric, not caught as a failure.
    assert sample("bus_enforcer_loop_errors_total", {"stage": "metrics"}) is None
    # The huge record's transaction failed a bounded number of times, then it was set aside.
    assert sample("bus_enforcer_loop_errors_total", {"stage": "transaction"}) == (
        BATCH_ATTEMPTS + ALONE_ATTEMPTS
    )
    assert sample("bus_enforcer_partition_stalled", {"topic": ingress, "partition": "0"}) in (
        None,
        0,
    )


async def test_a_partition_that_keeps_failing_stalls_with_an_alert_and_flows_again(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
) -> None:
    times = RetryTimes(first_backoff_s=0.05, stall_s=2.0)
    ingress, out = topic_factory("ingress"), topic_factory("out")
    values = [f"ok-{i}".encode() for i in range(10)]
    await _publish(kafka_broker, ingress, values)
    broken = asyncio.Event()
    broken.set()

    def state() -> EnforcerState:
        if broken.is_set():  # not the record's fault: nothing may be quarantined for it
            raise ConnectionError("the policy store is unreachable")
        return _no_state()

    registry = CollectorRegistry()
    enforcer = _enforcer(kafka_broker, ingress, out, state, registry, times)
    stalled = {"topic": ingress, "partition": "0"}
    stop = asyncio.Event()
    task = asyncio.create_task(enforcer.run(stop))
    try:
        await until(
            lambda: registry.get_sample_value("bus_enforcer_partition_stalled", stalled) == 1, task
        )
        assert enforcer.processed == 0
        broken.clear()
        await until(lambda: enforcer.processed >= len(values), task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert enforcer.processed == len(values)
    assert registry.get_sample_value("bus_enforcer_partition_stalled", stalled) == 0
    assert sorted(r.value for r in await read_topic(kafka_broker, out)) == sorted(values)
    quarantined = [
        r
        for r in await read_topic(kafka_broker, QUARANTINE_TOPIC)
        if header_map(r.headers)["bus_input"].startswith(f"{ingress}/")
    ]
    assert quarantined == []


async def test_a_failure_in_the_loops_own_recovery_loses_no_record(
    kafka_broker: KafkaConnection,
    topic_factory: Callable[..., str],
) -> None:
    ingress, out = topic_factory("ingress"), topic_factory("out")
    values = [f"ok-{i}".encode() for i in range(10)]
    await _publish(kafka_broker, ingress, values[:5])
    faults = {"journal": 1, "recovery": 1}  # each fails once, the recovery inside the recovery

    def journal(
        producer: TransactionalProducer, group: str, tp: Partition, batch: SeenInBatch
    ) -> None:
        # In the batch with the last record: no later batch would come to notice anything amiss.
        if faults["journal"] and any(offset == len(values) - 1 for *_, offset in batch.entries):
            faults["journal"] -= 1
            raise RuntimeError("journal")
        seen_journal.journal(producer, group, tp, batch)

    class FailingOnce(Enforcer):
        def _failed(
            self,
            consumer: Consumer,
            batches: dict[Partition, Batch],
            plans: dict[Partition, Plan],
            error: Exception,
        ) -> None:
            if faults["recovery"]:
                faults["recovery"] -= 1
                raise RuntimeError("recovery")
            super()._failed(consumer, batches, plans, error)

    registry = CollectorRegistry()
    times = RetryTimes(unexpected_s=0.5)
    enforcer = _enforcer(
        kafka_broker,
        ingress,
        out,
        _no_state,
        registry,
        times,
        write_journal=journal,
        kind=FailingOnce,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(enforcer.run(stop))
    try:
        await until(lambda: enforcer.processed >= 5, task)
        # The last of these fails in the journal, then in its recovery: only a rewind brings it
        # back, as no later record would.
        await _publish(kafka_broker, ingress, values[5:])
        await until(lambda: enforcer.processed >= len(values), task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert enforcer.processed == len(values)
    assert faults == {"journal": 0, "recovery": 0}
    assert registry.get_sample_value("bus_enforcer_loop_errors_total", {"stage": "loop"}) == 1
    assert sorted(r.value for r in await read_topic(kafka_broker, out)) == sorted(values)


async def test_a_record_the_client_cannot_decode_is_quarantined_and_its_partition_goes_on(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    ingress, out = topic_factory("ingress", partitions=2), topic_factory("out")
    ensure_bus_topics(kafka_admin, [])
    producer = AIOKafkaProducer(**kafka_broker.aiokafka_kwargs(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(ingress, b"ok-a", key=b"k", partition=0)
        await _undecodable(kafka_broker, ingress, 0, tmp_path)  # offset 1 of partition 0
        for value, partition in ((b"ok-b", 0), (b"ok-c", 1), (b"ok-d", 1)):
            await producer.send_and_wait(ingress, value, key=b"k", partition=partition)
    finally:
        await producer.stop()

    registry = CollectorRegistry()
    enforcer = _enforcer(kafka_broker, ingress, out, _no_state, registry)
    # Before (aiokafka): every fetch raised, so no partition moved; then the partition stalled.
    await run_until(enforcer, 5)
    delivered = sorted(r.value for r in await read_topic(kafka_broker, out))
    assert delivered == [b"ok-a", b"ok-b", b"ok-c", b"ok-d"]
    quarantined = [
        header_map(r.headers)
        for r in await read_topic(kafka_broker, QUARANTINE_TOPIC)
        if header_map(r.headers)["bus_input"] == f"{ingress}/0/1"
    ]
    assert [q["bus_quarantine_reason"] for q in quarantined] == ["MALFORMED"]
    assert "cannot decode its headers" in quarantined[0]["bus_quarantine_detail"]
    stalled = {"topic": ingress, "partition": "0"}
    assert registry.get_sample_value("bus_enforcer_partition_stalled", stalled) in (None, 0)


async def test_a_fenced_partition_stalls_with_an_alert_and_is_set_up_again(
    kafka_broker: KafkaConnection,
    topic_factory: Callable[..., str],
) -> None:
    # Before, a fenced producer was stopped and the partition was never processed again,
    # silently (no metric, no retry) while it stayed assigned to this enforcer.
    ingress, out, group = topic_factory("ingress"), topic_factory("out"), unique_name("enforcer")
    await _publish(kafka_broker, ingress, [b"ok-0", b"ok-1"])
    registry = CollectorRegistry()
    enforcer = Enforcer(
        kafka_broker,
        [ingress],
        _no_state,
        group=group,
        processor=stand_in(out),
        metrics=EnforcerMetrics(registry),
        retry_times=RetryTimes(fenced_s=1.0),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(enforcer.run(stop))
    try:
        await until(lambda: enforcer.processed >= 2, task)
        # Another producer takes the enforcer's transactional id, as a second worker wrongly
        # configured with the same instance name would: the enforcer's next transaction is fenced.
        usurper = Producer(
            {**kafka_broker.confluent_config(), "transactional.id": enforcer.transactional_id}
        )
        await asyncio.to_thread(usurper.init_transactions, 30)
        await _publish(kafka_broker, ingress, [b"ok-2", b"ok-3"])
        await until(lambda: enforcer.processed >= 4, task, seconds=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    sample = registry.get_sample_value
    assert sample("bus_enforcer_loop_errors_total", {"stage": "fenced"}) == 1
    stalled = {"topic": ingress, "partition": "0"}
    assert sample("bus_enforcer_partition_stalled", stalled) == 0  # set, and cleared by a commit
    delivered = sorted(r.value for r in await read_topic(kafka_broker, out))
    assert delivered == [b"ok-0", b"ok-1", b"ok-2", b"ok-3"]


async def _undecodable(
    connection: KafkaConnection, topic: str, partition: int, tmp_path: Path
) -> None:
    config = tmp_path / "connection.json"
    config.write_text(
        json.dumps(
            {
                **connection.to_json_dict(),
            }
        )
    )
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.undecodable_header",
        str(config),
        topic,
        str(partition),
        env={**os.environ, "AIOKAFKA_NO_EXTENSIONS": "1"},
    )
    assert await asyncio.wait_for(writer.wait(), 60) == 0


def _enforcer(
    connection: KafkaConnection,
    ingress: str,
    out: str,
    state: Callable[[], EnforcerState],
    registry: CollectorRegistry,
    retry_times: RetryTimes | None = None,
    *,
    write_journal: JournalWriter = seen_journal.journal,
    kind: type[Enforcer] = Enforcer,
) -> Enforcer:
    return kind(
        connection,
        [ingress],
        state,
        group=unique_name("enforcer"),
        processor=stand_in(out),
        metrics=EnforcerMetrics(registry),
        retry_times=retry_times,
        write_journal=write_journal,
    )


def _no_state() -> EnforcerState:
    return STATE


async def _publish(connection: KafkaConnection, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send_and_wait(topic, value, key=f"k-{i}".encode())
    finally:
        await producer.stop()
