"""The watch as a faust app: the audit topic in, one changelog-backed table per rule, alerts out.

Guarantee relied on: **at least once**. faust flushes its producer (alerts and changelog
writes) before it commits the audit topic's offsets, so a kill -9 can only make it read records
again, never skip one; the gate (emission.py) then sends every alert the replay reaches again,
under the same key. Exactly-once is not used: faust's is only active inside a faust Worker with
several open issues on Kafka 4 (notes in docs/watch.md), and a duplicate alert is harmless.

Deployment: **one instance**. The tables are kept in memory (faust's memory store, rebuilt from
the changelogs on start) and written through faust's partitioner, so one key's windows are in one
place only when one process holds every partition of the audit topic. A second instance would
split the counts; run it as a single replica (deploy/).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import faust
from faust.auth import SASLCredentials
from faust.types import EventT, StreamT

from bus.kafka.connection import KafkaConnection
from bus.record.audit_record import AuditRecord, AuditRecordError
from bus.watch.alert import Alert
from bus.watch.emission import AlertGate
from bus.watch.metrics import WatchMetrics
from bus.watch.observation import observe
from bus.watch.read_committed import ReadCommittedTransport
from bus.watch.rules import Raised, WindowedRule, windowed_rules
from bus.watch.silent import RULE as SILENT_RULE
from bus.watch.silent import note_activity, silence_alert
from bus.watch.thresholds import Thresholds
from bus.watch.window_state import Value

log = logging.getLogger("bus.watch")
PRODUCERS_TABLE = "producers"
SILENCE_CHECK_S = 5.0  # how often the silent-producer rule looks at the clock


@dataclass(frozen=True)
class WatchOptions:
    """What one watch reads, writes and keeps.

    Parameters:
        app_id: the faust app id: its consumer group, and the prefix of its changelog topics
            (`<app_id>-<table>-changelog`); `bus-watch` or `bus-watch-<name>` (its ACLs).
        audit_topic, alerts_topic: where it reads and what it writes.
        partitions: the audit topic's partition count (the changelogs get as many).
        data_dir: faust's data directory (its memory store keeps nothing there; faust wants one).
    """

    app_id: str
    audit_topic: str
    alerts_topic: str
    partitions: int
    data_dir: str


class WatchApp(faust.App):
    """faust.App reading committed records only (read_committed.py)."""

    def _new_transport(self) -> Any:
        return ReadCommittedTransport(self.conf.broker_consumer, self)


def changelog_topics(options: WatchOptions, thresholds: Thresholds) -> dict[str, dict[str, str]]:
    """The changelog topics the watch's tables write, with the configuration faust would give
    them: a windowed table's is compacted and deleted after its windows expire."""
    topics = {
        f"{options.app_id}-{rule.table}-changelog": {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(int(_expires(rule).total_seconds() * 1000)),
        }
        for rule in windowed_rules(thresholds)
    }
    topics[f"{options.app_id}-{PRODUCERS_TABLE}-changelog"] = {"cleanup.policy": "compact"}
    return topics


def build_app(
    options: WatchOptions,
    connection: KafkaConnection,
    thresholds: Thresholds,
    metrics: WatchMetrics | None = None,
    clock: Callable[[], float] = time.time,
) -> faust.App:
    """The faust app of the watch (not started). Its topics must exist (changelog_topics)."""
    app = WatchApp(
        options.app_id,
        broker=[f"kafka://{server}" for server in connection.bootstrap_servers],
        broker_credentials=_credentials(connection),
        store="memory://",
        # `bus watch` creates the internal topics first (sized like the audit topic, replicated
        # as the cluster is). faust still declares them: it finds them there, and declaring is
        # what loads their metadata, which its partitioner needs before the first table write.
        topic_allow_declare=True,
        topic_disable_leader=True,
        topic_partitions=options.partitions,
        table_standby_replicas=0,
        processing_guarantee="at_least_once",
        # Static membership: a restarted watch takes its place in the group at once (not after
        # the dead process's session times out), and a second instance started by mistake
        # fences the first instead of splitting the counts with it.
        consumer_group_instance_id=f"{options.app_id}-0",
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        datadir=options.data_dir,
    )
    audit = app.topic(
        options.audit_topic, key_serializer="raw", value_serializer="raw", internal=False
    )
    alerts = app.topic(
        options.alerts_topic, key_serializer="raw", value_serializer="raw", internal=False
    )
    rules = windowed_rules(thresholds)
    tables = {
        rule.table: app.Table(
            rule.table,
            default=type(None),
            partitions=options.partitions,
            use_partitioner=True,
        ).tumbling(rule.window_seconds, expires=_expires(rule))
        for rule in rules
    }
    producers = app.Table(
        PRODUCERS_TABLE, default=type(None), partitions=options.partitions, use_partitioner=True
    )
    gate = AlertGate()

    async def send(raised: Raised) -> None:
        if not gate.admit(raised):
            return
        alert: Alert = raised.alert
        await alerts.send(key=alert.key.encode(), value=alert.to_json_bytes())
        if metrics:
            metrics.alerts.labels(alert.rule).inc()
        log.warning("alert", extra={"rule": alert.rule, "key": alert.key, "summary": alert.summary})

    async def watch(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await _observe_one(event, rules, tables, producers, thresholds, send, metrics, clock)

    app.agent(audit, name=f"{options.app_id}-audit")(watch)

    async def check_silence() -> None:
        now = clock()
        for producer, value in list(producers.items()):
            if value is None:
                continue
            raised = silence_alert(producer, value, now, thresholds.silent_producer)
            if raised:
                await send(raised)

    app.timer(interval=SILENCE_CHECK_S, name=f"{options.app_id}-{SILENT_RULE}")(check_silence)
    return app


async def _observe_one(
    event: EventT[bytes],
    rules: list[WindowedRule],
    tables: dict[str, Any],
    producers: Any,
    thresholds: Thresholds,
    send: Callable[[Raised], Any],
    metrics: WatchMetrics | None,
    clock: Callable[[], float],
) -> None:
    started = time.perf_counter()
    message = event.message
    try:
        record = AuditRecord.from_json_bytes(message.value or b"")
    except AuditRecordError as exc:
        # Not the watch's to judge (the indexer keeps it as UNREADABLE): one bad record never
        # stops the watch.
        log.error(
            "unreadable audit record skipped",
            extra={
                "position": f"{message.topic}:{message.partition}:{message.offset}",
                "error": str(exc),
            },
        )
        if metrics:
            metrics.unreadable.inc()
        return
    observation = observe(
        record, message.timestamp, message.topic, message.partition, message.offset
    )
    now = clock()
    for rule in rules:
        raised = rule.observe(observation, _FaustWindows(tables[rule.table], rule), now)
        if raised:
            await send(raised)
    if observation.source:
        activity = note_activity(
            producers[observation.source], observation, thresholds.silent_producer
        )
        if activity is not None:
            producers[observation.source] = activity
    if metrics:
        metrics.records.inc()
        metrics.record_age.set(max(0.0, now - message.timestamp))
        metrics.observe_seconds.observe(time.perf_counter() - started)


class _FaustWindows:
    """WindowState over a faust windowed table, relative to the event being processed."""

    def __init__(self, table: Any, rule: WindowedRule) -> None:
        self._table, self._size = table, rule.window_seconds

    def get(self, key: str) -> Value | None:
        value: Value | None = self._table[key].current()
        return value

    def get_before(self, key: str, windows_back: int) -> Value | None:
        value: Value | None = self._table[key].delta(windows_back * self._size)
        return value

    def put(self, key: str, value: Value) -> None:
        self._table[key] = value


def _expires(rule: WindowedRule) -> timedelta:
    # The current window, the history the rule reads, and one more so none expires under a read.
    return timedelta(seconds=rule.window_seconds * (rule.history_windows + 2))


def _credentials(connection: KafkaConnection) -> SASLCredentials:
    ssl_context = connection.aiokafka_kwargs().get("ssl_context")
    return SASLCredentials(
        username=connection.username,
        password=connection.password,
        mechanism="SCRAM-SHA-512",
        ssl_context=ssl_context,
    )
