"""The watch's rules, pure: each takes one observation and its table's windows and says whether
an alert stands, with the figures and the decisions behind it. No Kafka, no clock of their own.

A rule raises its alert on every record that finds the threshold exceeded; which of those
candidates are actually sent is decided by `AlertGate` (emission.py), so that the rules stay
simple and a replay after a crash can never hide an alert."""

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from bus.record.alert import Alert, AlertDecision, alert_key, rfc3339
from bus.record.audit_record import RecordedOutcome
from bus.watch.observation import DecisionRef, Observation
from bus.watch.thresholds import BaselineBurst, PersonDenials, PersonSpread, Thresholds
from bus.watch.window_state import Value, WindowState, window_start

RECENT_DECISIONS = 5  # decisions an alert names; the rest are found by subject and window
_MEDIANS_KEPT = 100_000


@dataclass(frozen=True)
class Raised:
    """A rule's verdict on one record: the alert's key, the count that stands behind it (the
    gate re-sends an alert when it has grown enough to be worth a fresh version), and the alert,
    built only when asked for (during a bulk pull most verdicts are not sent)."""

    key: str
    level: int
    build: Callable[[], Alert]

    @cached_property
    def alert(self) -> Alert:
        """The alert itself."""
        return self.build()


class WindowedRule:
    """A rule over one windowed table."""

    name: str
    table: str
    window_seconds: int
    history_windows: int  # earlier windows the rule reads: the table keeps them

    def observe(self, observation: Observation, windows: WindowState, now: float) -> Raised | None:
        """Update the table for `observation`; the alert if its threshold is exceeded."""
        raise NotImplementedError


class BaselineBurstRule(WindowedRule):
    """One key's count in a window against `factor` × the median of its own earlier windows,
    and at least `floor`.

    `select` says which records count and under which key (None: not this rule's business)."""

    def __init__(
        self,
        name: str,
        subject_kind: str,
        thresholds: BaselineBurst,
        select: Callable[[Observation], str | None],
        what: str,
    ) -> None:
        self.name = self.table = name
        self.subject_kind = subject_kind
        self.window_seconds = thresholds.window_seconds
        self.history_windows = thresholds.history_windows
        self._thresholds = thresholds
        self._select = select
        self._what = what
        # key × window start → the median of the windows before it: read once per window, not
        # once per record (a record arriving late for a past window does not move it).
        self._medians: dict[tuple[str, int], float] = {}

    def observe(self, observation: Observation, windows: WindowState, now: float) -> Raised | None:
        """Count the record under its key; an alert when the count exceeds the limit."""
        key = self._select(observation)
        if key is None:
            return None
        value = _counted(windows.get(key), observation)
        windows.put(key, value)
        start = window_start(observation.at, self.window_seconds)
        median = self._median(key, start, windows)
        limit = max(float(self._thresholds.floor), self._thresholds.factor * median)
        count = int(value["n"])
        if count <= limit:
            return None

        def build() -> Alert:
            summary = (
                f"{key}: {count} {self._what} in {_span(self.window_seconds)} from "
                f"{rfc3339(start)}, above the limit of {limit:g} (its median over the previous "
                f"{self.history_windows} windows is {median:g})"
            )
            figures = {
                "count": float(count),
                "limit": limit,
                "median": float(median),
                "factor": self._thresholds.factor,
                "floor": float(self._thresholds.floor),
            }
            return make_alert(
                self.name,
                self.subject_kind,
                key,
                start,
                self.window_seconds,
                figures,
                summary,
                value,
                now,
            )

        return Raised(alert_key(self.name, key, start), count, build)

    def _median(self, key: str, start: int, windows: WindowState) -> float:
        cached = self._medians.get((key, start))
        if cached is None:
            history = [
                int((windows.get_before(key, back) or {}).get("n", 0))
                for back in range(1, self.history_windows + 1)
            ]
            cached = float(statistics.median(history))
            if len(self._medians) >= _MEDIANS_KEPT:
                self._medians.clear()
            self._medians[(key, start)] = cached
        return cached


class PersonSpreadRule(WindowedRule):
    """One person's data released to more than `max_consumers` agencies in a window."""

    def __init__(self, thresholds: PersonSpread) -> None:
        self.name = self.table = "person_spread"
        self.window_seconds = thresholds.window_seconds
        self.history_windows = 0
        self._max = thresholds.max_consumers

    def observe(self, observation: Observation, windows: WindowState, now: float) -> Raised | None:
        """Note the receiving agency under the person; an alert past the maximum."""
        person, consumer = observation.subject, observation.consumer
        if observation.outcome is not RecordedOutcome.PERMIT or not person or not consumer:
            return None
        value = windows.get(person) or {"consumers": [], "recent": []}
        consumers = list(value["consumers"])
        if consumer not in consumers:
            # Only a new agency changes the value: the decisions kept are each agency's first.
            consumers = sorted([*consumers, consumer])
            value = {"consumers": consumers, "recent": _recent(value, observation)}
            windows.put(person, value)
        if len(consumers) <= self._max:
            return None
        start = window_start(observation.at, self.window_seconds)

        def build() -> Alert:
            summary = (
                f"data about one person (pseudonym {person}) was released to {len(consumers)} "
                f"agencies in {_span(self.window_seconds)} from {rfc3339(start)}: "
                f"{', '.join(consumers)} (at most {self._max} expected)"
            )
            figures = {"agencies": float(len(consumers)), "limit": float(self._max)}
            return make_alert(
                self.name,
                "person",
                person,
                start,
                self.window_seconds,
                figures,
                summary,
                value,
                now,
            )

        return Raised(alert_key(self.name, person, start), len(consumers), build)


class PersonDenialsRule(WindowedRule):
    """Decisions about one person denied more than `max_denials` times in a window."""

    def __init__(self, thresholds: PersonDenials) -> None:
        self.name = self.table = "person_denials"
        self.window_seconds = thresholds.window_seconds
        self.history_windows = 0
        self._max = thresholds.max_denials

    def observe(self, observation: Observation, windows: WindowState, now: float) -> Raised | None:
        """Count a denial about the person; an alert past the maximum."""
        person = observation.subject
        if observation.outcome is not RecordedOutcome.DENY or not observation.refused or not person:
            return None
        value = _counted(windows.get(person), observation)
        windows.put(person, value)
        count = int(value["n"])
        if count <= self._max:
            return None
        start = window_start(observation.at, self.window_seconds)

        def build() -> Alert:
            summary = (
                f"decisions about one person (pseudonym {person}) were denied {count} times in "
                f"{_span(self.window_seconds)} from {rfc3339(start)} (at most {self._max} "
                "expected)"
            )
            figures = {"denials": float(count), "limit": float(self._max)}
            return make_alert(
                self.name,
                "person",
                person,
                start,
                self.window_seconds,
                figures,
                summary,
                value,
                now,
            )

        return Raised(alert_key(self.name, person, start), count, build)


def windowed_rules(thresholds: Thresholds) -> list[WindowedRule]:
    """Every windowed rule, configured by `thresholds` (the silent-producer rule is not
    windowed: silent.py)."""
    return [
        BaselineBurstRule(
            "bulk_release",
            "consumer-purpose",
            thresholds.bulk_release,
            _released_to,
            "events released",
        ),
        BaselineBurstRule(
            "probing", "consumer", thresholds.probing, _refused_to, "denials and refusals"
        ),
        BaselineBurstRule(
            "quarantine_burst",
            "producer",
            thresholds.quarantine_burst,
            _quarantined_from,
            "events quarantined",
        ),
        PersonSpreadRule(thresholds.person_spread),
        PersonDenialsRule(thresholds.person_denials),
    ]


def make_alert(
    rule: str,
    subject_kind: str,
    subject: str,
    start: float,
    window_seconds: int,
    figures: dict[str, float],
    summary: str,
    value: Value,
    now: float,
) -> Alert:
    """The alert of `rule` on `subject` in the window from `start`, naming the decisions kept
    in the table's `value`."""
    decisions = tuple(
        AlertDecision(ref.position, ref.event_id, ref.subject)
        for ref in (DecisionRef.from_list(item) for item in value.get("recent", []))
    )
    return Alert(
        key=alert_key(rule, subject, start),
        rule=rule,
        subject_kind=subject_kind,
        subject=subject,
        window_start=rfc3339(start),
        window_end=rfc3339(start + window_seconds),
        figures=figures,
        summary=summary,
        decisions=decisions,
        raised_at=datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
    )


def _released_to(observation: Observation) -> str | None:
    if observation.outcome is not RecordedOutcome.PERMIT:
        return None
    if not observation.consumer or not observation.purpose:
        return None
    return f"{observation.consumer}/{observation.purpose}"


def _refused_to(observation: Observation) -> str | None:
    return observation.consumer if observation.refused else None


def _quarantined_from(observation: Observation) -> str | None:
    return observation.source if observation.outcome is RecordedOutcome.QUARANTINED else None


def _counted(value: Value | None, observation: Observation) -> Value:
    value = value or {"n": 0, "recent": []}
    return {"n": int(value["n"]) + 1, "recent": _recent(value, observation)}


def _recent(value: Value, observation: Observation) -> list[list[str | None]]:
    recent = [*value.get("recent", []), observation.reference().to_list()]
    return recent[-RECENT_DECISIONS:]


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
