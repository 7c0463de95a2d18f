"""The watch's alerts as the auditors' console shows them: the compacted alerts topic, read in the
background as `audit-verifier`, newest version of each alert kept in memory.

Where the board cannot read (the broker unreachable, no ACL), the console says so and since when,
rather than showing an empty list that would read as "no misuse"."""

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from bus.kafka.connection import KafkaConnection
from bus.record.alert import Alert

log = logging.getLogger(__name__)
POLL_S = 1.0


@dataclass(frozen=True)
class AlertsView:
    """The alerts known now, newest first; `problem` says why they may be incomplete."""

    alerts: list[Alert]
    problem: str | None


class AlertSource(Protocol):
    """Where the console gets the watch's alerts."""

    def view(self) -> AlertsView:
        """The alerts known now."""
        ...


class FixedAlerts:
    """A given list of alerts (tests, a console without a broker)."""

    def __init__(self, alerts: list[Alert], problem: str | None = None) -> None:
        self._view = AlertsView(_newest_first(alerts), problem)

    def view(self) -> AlertsView:
        """See AlertSource."""
        return self._view


class KafkaAlertBoard:
    """The alerts topic, followed from its start by a daemon thread (see the module docstring).

    Parameters:
        connection: audit-verifier's connection (READ on the alerts topic).
        topic: the alerts topic.
    """

    def __init__(self, connection: KafkaConnection, topic: str) -> None:
        self._connection, self._topic = connection, topic
        self._alerts: dict[str, Alert] = {}
        self._problem: str | None = "not read yet"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="alert-board", daemon=True)

    def start(self) -> "KafkaAlertBoard":
        """Start following the topic."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following it."""
        self._stop.set()
        self._thread.join(timeout=5)

    def view(self) -> AlertsView:
        """See AlertSource."""
        with self._lock:
            return AlertsView(_newest_first(list(self._alerts.values())), self._problem)

    def _follow(self) -> None:
        consumer = Consumer(
            {
                **self._connection.confluent_config(),
                "group.id": "unused",
                "enable.auto.commit": False,
            }
        )
        try:
            topic = consumer.list_topics(self._topic, timeout=10).topics[self._topic]
            if topic.error is not None or not topic.partitions:
                raise KafkaException(topic.error or "no partitions")
            partitions = list(topic.partitions)
            consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions])
            self._set_problem(f"still reading {self._topic} from its start")
            unread = set(partitions)  # until each has reached its end once, the list is partial
            while not self._stop.is_set():
                message = consumer.poll(POLL_S)
                if message is None:
                    continue
                error = message.error()
                if error is None:
                    self._take(message.key(), message.value())
                elif error.code() == KafkaError._PARTITION_EOF:
                    unread.discard(message.partition())
                    if not unread:
                        self._set_problem(None)
                else:
                    self._set_problem(f"{error} (since {_now()})")
        except (KafkaException, KeyError) as exc:
            self._set_problem(f"cannot read {self._topic}: {exc} (since {_now()})")
            log.error("alert board stopped: %s", exc)
        finally:
            consumer.close()

    def _take(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        with self._lock:
            if value is None:  # a tombstone: the alert was withdrawn
                self._alerts.pop(key.decode(errors="replace"), None)
                return
            try:
                alert = Alert.from_json_bytes(value)
            except msgspec.MsgspecError as exc:
                log.error("not an alert on %s: %s", self._topic, exc)
                return
            self._alerts[alert.key] = alert

    def _set_problem(self, problem: str | None) -> None:
        with self._lock:
            self._problem = problem


def _newest_first(alerts: list[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (a.raised_at, a.key), reverse=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
