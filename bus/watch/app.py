"""The watch as a faust app: the audit topic in, one changelog-backed table per rule, alerts out.

Guarantee relied on: **at least once**. A batch's body waits until its changelog writes and
alerts are acknowledged by the broker (delivered.py: faust's own flush before a commit does not
always wait), and faust acknowledges the batch's records only after the body, so a commit never
covers a record whose effects could still be lost: a kill -9 can only make it read records
again, never skip one; the gate (emission.py) then sends every alert the replay reaches again,
under the same key. faust itself can skip the first record of a partition after an assignment;
the watch reads such records itself (head_gap.py). Exactly-once is not used: faust's is only
active inside a faust Worker with several open issues on Kafka 4 (notes in docs/watch.md), and
a duplicate alert is harmless.

Deployment: **one instance**. The tables are kept in memory (faust's memory store, rebuilt from
the changelogs on start) and written through faust's partitioner, so one key's windows are in one
place only when one process holds every partition of the audit topic. A second instance would
split the counts; run it as a single replica (deploy/).
"""

import logging
import os
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.auth import SASLCredentials
from faust.types import StreamT

from bus.kafka.connection import KafkaConnection
from bus.record.alert import Alert
from bus.record.audit_record import AuditRecord, AuditRecordError
from bus.watch.delivered import Deliveries, tracked_table
from bus.watch.emission import AlertGate
from bus.watch.head_gap import HeadGaps
from bus.watch.metrics import WatchMetrics
from bus.watch.observation import Observation, observe
from bus.watch.read_committed import ReadCommittedTransport
from bus.watch.rules import Raised, WindowedRule, windowed_rules
from bus.watch.silent import RULE as SILENT_RULE
from bus.watch.silent import note_activity, silence_alert
from bus.watch.thresholds import Thresholds
from bus.watch.window_state import CachedWindows, Value

log = logging.getLogger("bus.watch")
PRODUCERS_TABLE = "producers"
SILENCE_CHECK_S = 5.0  # how often the silent-producer rule looks at the clock
EXPIRY_EVERY_S = 60.0  # how often windows past every rule's reach are deleted
BATCH_RECORDS = 2_000  # records per batch: one changelog write per key touched in it
BATCH_WITHIN_S = 0.2  # …or what arrived within this long
EXIT_UNCOMMITTED = 70  # EX_SOFTWARE: a supervisor restarts it
FUTURE_SLACK_S = 60.0  # a record timestamped further ahead than this does not move the clock


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
    """The changelog topics of the watch's tables, compacted (expired windows are deleted with a
    tombstone each, window_state.py)."""
    tables = [rule.table for rule in windowed_rules(thresholds)] + [PRODUCERS_TABLE]
    return {
        f"{options.app_id}-{table}-changelog": {"cleanup.policy": "compact"} for table in tables
    }


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
    audit = app.topic(options.audit_topic, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(options.alerts_topic, key_serializer="raw", value_serializer="raw")
    watcher = _Watcher(thresholds, metrics, clock)
    deliveries = Deliveries()
    for rule in watcher.rules:
        watcher.windows[rule.table] = CachedWindows(
            tracked_table(app, rule.table, options.partitions, deliveries), rule.window_seconds
        )
    watcher.producers = tracked_table(app, PRODUCERS_TABLE, options.partitions, deliveries)

    async def send(raised: list[Raised]) -> None:
        for one in raised:
            if watcher.gate.wants(one):
                alert: Alert = one.alert
                deliveries.track(
                    await alerts.send(key=alert.key.encode(), value=alert.to_json_bytes())
                )
                # Remembered before delivery: a failed delivery ends the process, and the gate
                # with it (delivered() raises).
                watcher.gate.sent(one)
                if metrics:
                    metrics.alerts.labels(alert.rule).inc()
                log.warning("alert %s", alert.key, extra={"rule": alert.rule, "key": alert.key})

    head_gaps = HeadGaps(connection, options.app_id)

    def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        (assigned,) = args  # the set of partitions assigned
        head_gaps.assigned(assigned)

    async def watch(stream: StreamT[bytes]) -> None:
        # faust acknowledges a batch's records after this body has run for it, so the body
        # returns only once the tables' writes and the alerts are delivered (at least once).
        # It acknowledges them even when the body fails, so a failure must not let the commit
        # happen: the process stops at once, uncommitted, and is read again after its restart.
        # (take_events is faust.Stream's, missing from its StreamT protocol.)
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_RECORDS, BATCH_WITHIN_S)
        async for events in batches:
            try:
                messages = [event.message for event in events]
                skipped = await head_gaps.missed(messages)
                await send(watcher.observe_batch([*skipped, *messages]))
                await deliveries.delivered()
            except BaseException:
                log.critical(
                    "a batch failed: stopping uncommitted, to read it again", exc_info=True
                )
                os._exit(EXIT_UNCOMMITTED)

    app.agent(audit, name=f"{options.app_id}-audit")(watch)
    app.on_partitions_assigned.connect(on_assigned)

    async def check_silence() -> None:
        try:
            await send(watcher.silent_producers())
            await deliveries.delivered()
        except Exception:  # not a cancellation: that is a shutdown
            # The gate counts an alert as sent before its delivery: one that failed would never
            # be sent again by this process.
            log.critical("a silence alert failed: stopping, to judge again", exc_info=True)
            os._exit(EXIT_UNCOMMITTED)

    async def expire_windows() -> None:
        # Tombstones only, not awaited: one lost to a crash leaves an expired window to the next
        # expiry, and a batch's delivered() waits for them anyway.
        watcher.expire()

    app.timer(interval=SILENCE_CHECK_S, name=f"{options.app_id}-{SILENT_RULE}")(check_silence)
    app.timer(interval=EXPIRY_EVERY_S, name=f"{options.app_id}-expiry")(expire_windows)
    return app


class _Watcher:
    """The rules over batches of audit records, and their tables (bound by build_app)."""

    def __init__(
        self, thresholds: Thresholds, metrics: WatchMetrics | None, clock: Callable[[], float]
    ) -> None:
        self.thresholds, self.metrics, self.clock = thresholds, metrics, clock
        self.rules: list[WindowedRule] = windowed_rules(thresholds)
        self.windows: dict[str, CachedWindows] = {}
        self.producers: MutableMapping[str, Value | None] = {}
        self.gate = AlertGate()
        # Each audit partition's newest record time; windows expire by the slowest partition's,
        # so a partition lagging behind never loses a window it still has records for.
        self.newest: dict[int, float] = {}
        self.started = clock()

    def observe_batch(self, messages: Sequence[Any]) -> list[Raised]:
        """Apply every rule to `messages` (faust's, or records read again: head_gap.py)."""
        started = time.perf_counter()
        now = self.clock()
        raised: list[Raised] = []
        activity: dict[str, Value] = {}
        for message in messages:
            observation = self._read(message)
            if observation is None:
                continue
            if observation.at <= now + FUTURE_SLACK_S:  # a future CreateTime moves no clock
                partition = message.partition
                self.newest[partition] = max(self.newest.get(partition, 0.0), observation.at)
            for rule in self.rules:
                verdict = rule.observe(
                    observation, self.windows[rule.table].at(observation.at), now
                )
                if verdict:
                    raised.append(verdict)
            source = observation.source
            if source:
                before = activity.get(source) or self.producers.get(source)
                noted = note_activity(before, observation, self.thresholds.silent_producer)
                if noted is not None:
                    activity[source] = noted
        for windows in self.windows.values():
            windows.flush()
        for source, value in activity.items():
            self.producers[source] = value
        if self.metrics and messages:
            self.metrics.records.inc(len(messages))
            self.metrics.record_age.set(max(0.0, now - messages[-1].timestamp))
            self.metrics.observe_seconds.observe((time.perf_counter() - started) / len(messages))
        return raised

    def silent_producers(self) -> list[Raised]:
        now = self.clock()
        if now - self.started < self.thresholds.silent_producer.silence_seconds:
            # Just started: the records of the time it was down may still be on their way in;
            # judged now, a producer active meanwhile would look silent.
            return []
        found = []
        for producer, value in list(self.producers.items()):
            if value is not None:
                raised = silence_alert(producer, value, now, self.thresholds.silent_producer)
                if raised:
                    found.append(raised)
        return found

    def expire(self) -> None:
        if not self.newest:
            return  # nothing read yet since the start: no clock to expire by
        clock = min(self.newest.values())
        for rule in self.rules:
            kept = rule.window_seconds * (rule.history_windows + 2)
            self.windows[rule.table].expire(clock - kept)

    def _read(self, message: Any) -> Observation | None:
        try:
            record = AuditRecord.from_json_bytes(message.value or b"")
        except AuditRecordError as exc:
            # Not the watch's to judge (the indexer keeps it as UNREADABLE): one bad record never
            # stops the watch.
            position = f"{message.topic}:{message.partition}:{message.offset}"
            log.error(
                "unreadable audit record skipped", extra={"position": position, "error": str(exc)}
            )
            if self.metrics:
                self.metrics.unreadable.inc()
            return None
        return observe(record, message.timestamp, message.topic, message.partition, message.offset)


def _credentials(connection: KafkaConnection) -> SASLCredentials:
    ssl_context = connection.aiokafka_kwargs().get("ssl_context")
    return SASLCredentials(
        username=connection.username,
        password=connection.password,
        mechanism="SCRAM-SHA-512",
        ssl_context=ssl_context,
    )
