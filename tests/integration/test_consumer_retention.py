"""Storage limitation end to end on the real broker, by a clock the test sets: deliveries the
enforcer's pipeline decided carry their deadline; the back office applies them; once the clock
passes a deadline, the consumer's periodic purge (and `purge_now`) erases the row through the back
office's handler and writes an erasure record to the agency's own erasures topic; the audit trail
reads it and the citizen's report says erased, due or overdue. An agency's erasure record for a
delivery it never received shows nowhere, and it cannot write another agency's erasures topic."""

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import msgspec
import pytest
from aiokafka.errors import KafkaError

from bus.audit.erasure_indexer import index_erasures
from bus.audit.store import AuditStore, SourceRecord, open_store
from bus.audit.subject_report import Receipt, subject_report
from bus.envelope.kafka_binding import header_map
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC, dead_letter_topic, erasures_topic
from bus.record.audit_record import AUDIT_AUDIENCE
from bus.record.erase_by import ERASE_BY_HEADER, erase_by_text
from bus.record.erasure_record import ErasureRecord
from consumers import Consumer, InboxEntry, SqliteInbox
from tests.integration.test_consumer_sdk import people_db, readable, record_it
from tests.support.deliveries import (
    PURPOSE,
    TYPE,
    BackOfficeBus,
    back_office_bus,
    moved_to_munich,
    run_until,
)
from tests.support.kafka import (
    Principals,
    eventually,
    produce_one,
    read_topic,
    unique_name,
)

DECIDED = datetime.now(UTC).replace(microsecond=0)
RETENTION = timedelta(days=365)  # the test policy's purposes keep data a year


class Clock:
    """The time the consumer holds deadlines against, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def bus(
    principals: Principals, kafka_admin: KafkaAdmin, kafka_broker: KafkaConnection
) -> BackOfficeBus:
    return back_office_bus(principals, kafka_admin, kafka_broker)


async def forget(entry: InboxEntry, db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM applied WHERE event_id = ?", (entry.event_id,))


def kept(inbox: SqliteInbox) -> set[str]:
    return {r[0] for r in inbox.db.execute("SELECT event_id FROM applied")}


def audit_store(bus: BackOfficeBus, tmp_path: Path) -> AuditStore:
    """The enforcer's audit records of the deliveries, with the policy they were decided under."""
    store = open_store(str(tmp_path / "audit.db"))
    records = [SourceRecord(AUDIT_TOPIC, 0, i, v) for i, v in enumerate(bus.audited)]
    store.append(records, DECIDED, snapshots=[(bus.state.snapshot.hash, bus.policy_document)])
    return store


async def report(
    bus: BackOfficeBus, store: AuditStore, person: str, now: datetime
) -> dict[str, Receipt]:
    await index_erasures(bus.admin_connection, store)
    pseudonym = bus.state.pseudonyms.pseudonym(AUDIT_AUDIENCE, person)
    found = subject_report(store, pseudonym, now)
    return {r.event_id or "": r for r in found.received}


async def test_an_expired_row_is_erased_reported_and_shown_in_the_citizens_report(
    bus: BackOfficeBus, kafka_broker: KafkaConnection, tmp_path: Path
) -> None:
    person = unique_name("P")
    # One move decided now, one a hundred days later: two deadlines.
    first = bus.deliveries([moved_to_munich(person)], now=DECIDED)
    second = bus.deliveries([moved_to_munich(person)], now=DECIDED + timedelta(days=100))
    early, late = (header_map(r[0].headers)["ce_id"] for r in (first, second))
    assert header_map(first[0].headers)[ERASE_BY_HEADER] == erase_by_text(DECIDED, 365)
    await bus.write(first + second)
    await readable(bus)

    clock = Clock(DECIDED + timedelta(days=101))
    inbox = people_db(tmp_path)
    consumer = Consumer(
        bus.consumer, bus.connection, bus.keys, inbox, purge_every_s=0.1, clock=clock
    )
    consumer.subscribe(TYPE, PURPOSE, record_it, erase=forget)
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await wait_for(lambda: consumer.stats.applied == 2)
        assert kept(inbox) == {early, late}
        # A year after the first decision: the periodic purge erases the first row only.
        clock.now = DECIDED + RETENTION + timedelta(hours=1)
        await wait_for(lambda: bool(consumer.last_purge and consumer.last_purge.reported))
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert kept(inbox) == {late}
    assert consumer.last_purge is not None
    assert consumer.last_purge.erased == 1

    # The erasure record is on the agency's own topic, keyed by event id, naming no person.
    [erased] = await read_topic(kafka_broker, erasures_topic(bus.consumer))
    assert erased.key == early.encode()
    assert person.encode() not in erased.value
    record = ErasureRecord.from_json_bytes(erased.value)
    assert (record.event_id, record.purpose) == (early, PURPOSE)
    assert record.erase_by == erase_by_text(DECIDED, 365)

    store = audit_store(bus, tmp_path)
    receipts = await report(bus, store, person, clock.now)
    assert (receipts[early].erasure, receipts[early].erased_at) == ("erased", record.erased_at)
    assert receipts[early].erase_by == record.erase_by  # the bus's deadline, derived alike
    assert (receipts[late].erasure, receipts[late].erased_at) == ("due", None)
    assert receipts[late].erase_by == erase_by_text(DECIDED + timedelta(days=100), 365)

    # Past the second deadline, before any purge: overdue. `purge_now` (the CLI's) erases it.
    clock.now = DECIDED + timedelta(days=100) + RETENTION + timedelta(days=1)
    assert (await report(bus, store, person, clock.now))[late].erasure == "overdue"
    result = await consumer.purge_now()
    assert (result.erased, result.reported) == (1, 1)
    assert kept(inbox) == set()
    receipts = await report(bus, store, person, clock.now)
    assert {r.erasure for r in receipts.values()} == {"erased"}
    store.close()


async def test_an_agency_cannot_claim_erasures_it_has_no_delivery_for(
    bus: BackOfficeBus,
    principals: Principals,
    kafka_admin: KafkaAdmin,
    kafka_broker: KafkaConnection,
    tmp_path: Path,
) -> None:
    person = unique_name("P")
    delivered = bus.deliveries([moved_to_munich(person)], now=DECIDED)
    event_id = header_map(delivered[0].headers)["ce_id"]
    store = audit_store(bus, tmp_path)
    claim = ErasureRecord(
        source="muni-muc",
        event_id=event_id,
        purpose=PURPOSE,
        event_type=TYPE,
        erase_by=erase_by_text(DECIDED, 365),
        erased_at=erase_by_text(DECIDED, 1),
    )
    # Another agency, subscribed on its own: it writes its own erasures topic, claiming the first
    # agency's delivery, one it never received for itself, and bytes that are no record at all.
    hostile = back_office_bus(principals, kafka_admin, kafka_broker)
    never = msgspec.structs.replace(claim, event_id=unique_name("never-delivered"))
    for value in (claim.to_json_bytes(), never.to_json_bytes(), b"\x00not json"):
        await eventually(
            partial(produce_one, hostile.connection, erasures_topic(hostile.consumer), value)
        )
    # And it may not write the first agency's topic, where its claim would count.
    with pytest.raises(KafkaError):
        await produce_one(hostile.connection, erasures_topic(bus.consumer), claim.to_json_bytes())

    progress = await index_erasures(kafka_broker, store)
    assert progress.unreadable >= 1
    receipts = await report(bus, store, person, DECIDED + timedelta(days=1))
    assert list(receipts) == [event_id]  # nothing about the never-delivered event
    assert (receipts[event_id].erasure, receipts[event_id].erased_at) == ("due", None)
    store.close()


async def test_a_delivery_without_a_deadline_is_dead_lettered_not_applied(
    bus: BackOfficeBus, kafka_broker: KafkaConnection, tmp_path: Path
) -> None:
    [delivery] = bus.deliveries([moved_to_munich()])
    stripped = replace(
        delivery, headers=[(k, v) for k, v in delivery.headers if k != ERASE_BY_HEADER]
    )
    await bus.write([stripped])
    await readable(bus)
    inbox = people_db(tmp_path)
    consumer = Consumer(bus.consumer, bus.connection, bus.keys, inbox)
    consumer.subscribe(TYPE, PURPOSE, record_it, erase=forget)
    await run_until(consumer, lambda: consumer.stats.handled == 1)
    assert consumer.stats.dead_lettered == {"NO_ERASE_BY": 1}
    assert kept(inbox) == set()
    # Read as the bus admin: an enforcer another test runs may sync the agency's READ away.
    [parked] = await read_topic(kafka_broker, dead_letter_topic(bus.consumer))
    assert header_map(parked.headers)["bus_deadletter_reason"] == "NO_ERASE_BY"


async def wait_for(done: Callable[[], bool], timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 10)):
        if done():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")
