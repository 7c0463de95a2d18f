"""`bus watch` on the real broker, as its own principal: each rule raises its alert from audit
records on a topic of the test's own; aborted transactions and unreadable records are not
counted; windows survive a restart."""

import asyncio
import json
import random
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bus.control.service_principals import WATCH_APP_ID, watch_acls
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings
from bus.kafka.writing import COMPACTED
from tests.support.audit_records import PSEUDONYMS, audit_document, quarantined_document
from tests.support.child_processes import stop
from tests.support.kafka import read_topic
from tests.support.watch_process import (
    WatchRun,
    alerts_on,
    wait_for_alerts,
    write_thresholds,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def watch_run(
    kafka_admin: KafkaAdmin,
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> Iterator[WatchRun]:
    """A watch of the test's own: audit topic (3 partitions), compacted alerts topic, app id
    under the watch's prefix, its ACLs granted as the operator grants the bus's own."""
    audit_topic = topic_factory("audit", partitions=3)
    alerts_topic = topic_factory("alerts")
    kafka_admin.alter_topic_configs({alerts_topic: COMPACTED})
    app_id = f"{WATCH_APP_ID}-t{secrets.token_hex(4)}"
    kafka_admin.create_acls(watch_acls(audit_topic, alerts_topic))
    run = WatchRun(
        app_id=app_id,
        audit_topic=audit_topic,
        alerts_topic=alerts_topic,
        thresholds=write_thresholds(tmp_path / "watch.yaml"),
        profile=kafka_settings.profiles_dir / "watch.toml",
        log=tmp_path / "watch.log",
    )
    yield run
    kafka_admin.delete_topics([t for t in kafka_admin.list_topics() if t.startswith(f"{app_id}-")])


def record(i: int, **overrides: Any) -> bytes:
    return json.dumps(audit_document(i, **overrides)).encode()


def permit(i: int, consumer: str, person: str | None = None, purpose: str = "p") -> bytes:
    return record(
        i,
        outcome="PERMIT",
        reasons=[],
        consumer=consumer,
        purpose=purpose,
        producer="muni-09162000",
        subject_pseudonym=PSEUDONYMS.pseudonym("audit", person or f"person-{i}"),
    )


# Every record of a test is stamped with one instant in the middle of a past hour, so that a test
# running across a window's boundary does not split its records between two windows.
AT_MS = ((int(time.time()) // 3600 - 2) * 3600 + 1800) * 1000


async def send(
    connection: KafkaConnection, topic: str, values: list[bytes], *, aborted: bool = False
) -> None:
    """Write `values` stamped AT_MS, committed; or in one transaction that is then aborted."""
    kwargs = connection.aiokafka_kwargs()
    if aborted:
        producer = AIOKafkaProducer(**kwargs, transactional_id=f"{topic}-{secrets.token_hex(3)}")
    else:
        producer = AIOKafkaProducer(**kwargs, acks="all")
    await producer.start()
    try:
        if aborted:
            await producer.begin_transaction()
        for n, value in enumerate(values):
            await producer.send(topic, value, key=str(n).encode(), timestamp_ms=AT_MS)
        if aborted:
            await producer.abort_transaction()
        else:
            await producer.flush()
    finally:
        await producer.stop()


async def test_each_rule_raises_its_alert_naming_the_window_figures_and_decisions(
    watch_run: WatchRun, kafka_broker: KafkaConnection
) -> None:
    topic = watch_run.audit_topic
    bulk = [permit(i, "tax-by") for i in range(25)]  # floor 20
    spread = [permit(100 + n, c, person="person-x") for n, c in enumerate("abcd")]  # max 3
    denials = [  # probing floor 10; person_denials max 4
        record(
            200 + n,
            outcome="DENY",
            reasons=["OUT_OF_JURISDICTION"],
            consumer="prober",
            grant_id=None,
            released_fields=[],
            subject_pseudonym=PSEUDONYMS.pseudonym("audit", "person-y"),
        )
        for n in range(12)
    ]
    forged = [  # quarantine floor 5
        json.dumps(quarantined_document(300 + n, "bus.ingress.AddressChanged")).encode()
        for n in range(6)
    ]
    with watch_run.running():
        await send(kafka_broker, topic, [b"not an audit record", *bulk, *spread, *denials, *forged])
        found = {
            rule: await wait_for_alerts(kafka_broker, watch_run.alerts_topic, rule)
            for rule in (
                "bulk_release",
                "person_spread",
                "probing",
                "person_denials",
                "quarantine_burst",
            )
        }

    (bulk_alert,) = found["bulk_release"].values()
    assert bulk_alert.subject == "tax-by/p"
    assert bulk_alert.subject_kind == "consumer-purpose"
    assert bulk_alert.figures["count"] > 20
    assert bulk_alert.figures["limit"] == 20
    assert bulk_alert.key == f"bulk_release|tax-by/p|{bulk_alert.window_start}"
    assert bulk_alert.window_start.endswith(":00:00Z")  # an hourly window
    assert bulk_alert.decisions
    assert all(
        d.position.startswith(f"{topic}:") and d.subject_pseudonym for d in bulk_alert.decisions
    )
    (spread_alert,) = found["person_spread"].values()
    assert spread_alert.subject == PSEUDONYMS.pseudonym("audit", "person-x")
    assert spread_alert.figures["agencies"] == 4
    assert "a, b, c, d" in spread_alert.summary
    (probing_alert,) = found["probing"].values()
    assert probing_alert.subject == "prober"
    assert probing_alert.figures["count"] == 11
    (denial_alert,) = found["person_denials"].values()
    # Raised at the first past the maximum (5), raised again when the count doubled (10): the
    # newer version replaces the older under the same key.
    assert denial_alert.figures["denials"] == 10
    (quarantine_alert,) = found["quarantine_burst"].values()
    assert quarantine_alert.subject == "unverified@bus.ingress.AddressChanged"
    assert {d.event_id for d in quarantine_alert.decisions} == {None}
    # The alerts carry pseudonyms and ids, never a person's identifier.
    everything = json.dumps([a.summary for f in found.values() for a in f.values()])
    assert "person-x" not in everything
    assert "person-y" not in everything
    assert "unreadable audit record skipped" in watch_run.log.read_text()


async def test_records_of_an_aborted_transaction_are_not_counted(
    watch_run: WatchRun, kafka_broker: KafkaConnection
) -> None:
    topic = watch_run.audit_topic
    with watch_run.running():
        await send(kafka_broker, topic, [permit(i, "tax-by") for i in range(30)], aborted=True)
        await send(kafka_broker, topic, [permit(100 + i, "tax-by") for i in range(21)])
        (alert,) = (
            await wait_for_alerts(kafka_broker, watch_run.alerts_topic, "bulk_release")
        ).values()
    # Counted only the committed 21: read uncommitted, the first alert would have said 21 of
    # the aborted 30 (or more).
    assert alert.figures["count"] == 21
    assert alert.decisions
    assert all(d.event_id and int(d.event_id[-12:]) >= 100 for d in alert.decisions)


async def test_windows_survive_a_restart(
    watch_run: WatchRun, kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin
) -> None:
    topic = watch_run.audit_topic
    with watch_run.running():
        await send(kafka_broker, topic, [permit(i, "tax-by") for i in range(15)])
        await _until_committed(kafka_admin, watch_run, 15)
    # A new process: only its changelogs know of the first 15.
    with watch_run.running():
        await send(kafka_broker, topic, [permit(100 + i, "tax-by") for i in range(6)])
        (alert,) = (
            await wait_for_alerts(kafka_broker, watch_run.alerts_topic, "bulk_release")
        ).values()
    assert alert.figures["count"] == 21


async def test_a_producer_that_falls_silent_is_reported_once_per_silence(
    watch_run: WatchRun, kafka_broker: KafkaConnection
) -> None:
    topic = watch_run.audit_topic
    with watch_run.running():
        await send(kafka_broker, topic, [permit(i, "tax-by") for i in range(6)])  # min 5
        found = await wait_for_alerts(kafka_broker, watch_run.alerts_topic, "silent_producer")
        await asyncio.sleep(12)  # the timer looks every 5 s: nothing new for the same silence
        again = await alerts_on(kafka_broker, watch_run.alerts_topic)
    (alert,) = found.values()
    assert alert.subject == "muni-09162000"
    assert alert.figures["records_before"] == 6
    assert [a for a in again.values() if a.rule == "silent_producer"] == [alert]


async def _until_committed(admin: KafkaAdmin, run: WatchRun, records: int) -> None:
    for _ in range(120):
        committed = admin.committed_offsets(run.app_id)
        if sum(o for (t, _), o in committed.items() if t == run.audit_topic) >= records:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"the watch did not commit {records} records: {run.log.read_text()[-3000:]}"
    )


async def test_kill_9_at_random_moments_loses_no_alert(
    watch_run: WatchRun, kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin
) -> None:
    """At least once, proved: 40 people each reach a fourth agency (max 3) somewhere in
    a shuffled stream, written in chunks while the watch is killed -9 and restarted at random
    moments. Every one of the 40 alerts is there at the end; repeats only replace themselves."""
    rng = random.Random(16)
    people = [f"person-{n}" for n in range(40)]
    values = [
        permit(1000 + 4 * n + k, c, person=p)
        for n, p in enumerate(people)
        for k, c in enumerate("abcd")
    ]
    rng.shuffle(values)
    chunks = [values[i : i + 20] for i in range(0, len(values), 20)]
    process = watch_run.start()
    kills, sent = 0, 0
    try:
        for n, chunk in enumerate(chunks):
            await send(kafka_broker, watch_run.audit_topic, chunk)
            sent += len(chunk)
            if n % 2 == 0:
                # Up and working (everything before this chunk committed), then killed while it
                # reads, decides or commits this one.
                await _until_committed(kafka_admin, watch_run, sent - len(chunk))
                await asyncio.sleep(rng.uniform(0.0, 1.5))
                process.kill()  # SIGKILL: no commit, no flush
                process.wait()
                kills += 1
                process = watch_run.start()
        expected = {PSEUDONYMS.pseudonym("audit", p) for p in people}
        found = await wait_for_alerts(
            kafka_broker, watch_run.alerts_topic, "person_spread", count=40, timeout_s=180
        )
    finally:
        stop(process)
    assert kills == 4
    assert {a.subject for a in found.values()} == expected
    assert all(a.figures["agencies"] == 4 for a in found.values())
    raw = [
        r
        for r in await read_topic(kafka_broker, watch_run.alerts_topic, idle_s=1.0)
        if r.key and r.key.startswith(b"person_spread|")
    ]
    assert len({r.key for r in raw}) == 40 <= len(raw)  # repeats share their key
