"""The silent-producer rule: activity kept per window, silence judged against the clock."""

from collections.abc import Sequence

from bus.record.audit_record import RecordedOutcome
from bus.watch.observation import Observation
from bus.watch.silent import note_activity, silence_alert
from bus.watch.thresholds import SilentProducer
from bus.watch.window_state import Value

RULE = SilentProducer(silence_seconds=600, history_windows=3, min_records=5)
T0 = 1_800_000_000 - 1_800_000_000 % 600


def activity(times: Sequence[float], source: str = "muni") -> Value | None:
    value: Value | None = None
    for n, at in enumerate(times):
        observation = Observation(
            at, f"bus.audit:0:{n}", RecordedOutcome.PERMIT, f"ev-{n}", "tax", "p", source, "psn"
        )
        value = note_activity(value, observation, RULE) or value
    return value


def test_a_busy_producer_gone_quiet_is_reported_with_its_silence_as_the_window() -> None:
    value = activity([T0 + i for i in range(6)])
    assert value is not None
    assert silence_alert("muni", value, T0 + 5 + 599, RULE) is None  # not yet
    raised = silence_alert("muni", value, T0 + 5 + 600, RULE)
    assert raised is not None
    alert = raised.alert
    assert alert.key == f"silent_producer|muni|{alert.window_start}"
    assert alert.window_start.endswith("05Z")  # the silence began at the last record
    assert alert.figures["records_before"] == 6
    assert alert.figures["silent_seconds"] == 600
    later = silence_alert("muni", value, T0 + 5000, RULE)
    assert later is not None
    assert later.alert.key == alert.key


def test_a_producer_that_rarely_publishes_is_not_reported() -> None:
    value = activity([T0 + i for i in range(4)])  # below min_records
    assert value is not None
    assert silence_alert("muni", value, T0 + 10_000, RULE) is None


def test_old_windows_drop_out_of_the_baseline() -> None:
    value = activity([T0 + i for i in range(6)] + [T0 + 10 * 600])  # one record much later
    assert value is not None
    assert list(value["windows"].values()) == [1]
    assert silence_alert("muni", value, T0 + 20 * 600, RULE) is None


def test_an_unverified_source_is_not_tracked() -> None:
    assert activity([T0, T0 + 1], source="unverified@bus.ingress.X") is None
