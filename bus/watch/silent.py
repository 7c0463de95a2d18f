"""The silent-producer rule, pure: a producer that normally publishes has had no audit record for
a while. It needs a clock (silence is the absence of records), so the watch checks it on a timer;
what it checks is the producer's activity kept in a plain changelog-backed table."""

from bus.record.alert import alert_key
from bus.watch.observation import Observation
from bus.watch.rules import Raised, make_alert
from bus.watch.thresholds import SilentProducer
from bus.watch.window_state import Value, window_start

RULE = "silent_producer"


def note_activity(
    value: Value | None, observation: Observation, rule: SilentProducer
) -> Value | None:
    """The producer's activity after `observation`; None when the record names no producer the
    bus verified (an unverified claim cannot make a producer "normally publishing")."""
    source = observation.source
    if source is None or source.startswith("unverified@"):
        return None
    value = value or {"last": 0.0, "windows": {}, "recent": []}
    size = rule.silence_seconds
    start = window_start(observation.at, size)
    oldest = start - size * rule.history_windows
    windows = {k: n for k, n in value["windows"].items() if float(k) > oldest}
    windows[str(int(start))] = int(windows.get(str(int(start)), 0)) + 1
    return {
        "last": max(float(value["last"]), observation.at),
        "windows": windows,
        "recent": [*value.get("recent", []), observation.reference().to_list()][-3:],
    }


def silence_alert(producer: str, value: Value, now: float, rule: SilentProducer) -> Raised | None:
    """The alert when `producer` has been silent for `silence_seconds` at `now` after at least
    `min_records` in the windows before; None otherwise. Key: the producer and the moment its
    silence began, so the alert is raised once per silence."""
    last = float(value["last"])
    if now - last < rule.silence_seconds:
        return None
    size = rule.silence_seconds
    oldest = window_start(last, size) - size * (rule.history_windows - 1)
    before = sum(int(n) for k, n in value["windows"].items() if float(k) >= oldest)
    if before < rule.min_records:
        return None
    summary = (
        f"{producer} has published nothing for {int(now - last)} s (since its last record "
        f"at the start of this alert's window), after {before} audit records in the "
        f"{rule.history_windows} windows of {size} s before"
    )
    figures = {
        "silent_seconds": float(int(now - last)),
        "limit_seconds": float(size),
        "records_before": float(before),
        "min_records": float(rule.min_records),
    }
    return Raised(
        alert_key(RULE, producer, last),
        1,
        lambda: make_alert(RULE, "producer", producer, last, size, figures, summary, value, now),
    )
