"""A quarantine copy's `bus_` headers are the bus's alone, and the sender's headers come back
exactly as they were sent (a sender's `bus_quarantine_reason` no longer sat beside the bus's)."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bus.enforcer.pipeline import InRecord, process
from bus.enforcer.quarantine_headers import escaped, sender_headers
from bus.kafka.topics import QUARANTINE_TOPIC, ingress_topic
from tests.support.enforcer_fuzz import fuzz_state

NAMES = st.sampled_from(["bus_", "bus_input", "sender.", "sender.bus_x", "sender.sender.", "ce_id"])
HEADERS = st.lists(
    st.tuples(NAMES | st.text(max_size=12), st.none() | st.binary(max_size=8)), max_size=8
)


@given(HEADERS)
def test_the_escape_is_undone_exactly_and_leaves_no_bus_header(
    headers: list[tuple[str, bytes | None]],
) -> None:
    copy = escaped(headers)
    assert not [name for name, _ in copy if name.startswith("bus_")]
    assert sender_headers([*copy, ("bus_input", b"t/0/1")]) == headers


def test_a_senders_bus_headers_cannot_pass_for_the_bus_s_own() -> None:
    sent: list[tuple[str, bytes | None]] = [
        ("bus_quarantine_reason", b"NONE"),
        ("bus_input", b"elsewhere/0/0"),
        ("ce_id", b"x"),
    ]
    record = InRecord(ingress_topic("population.AddressChanged"), 0, 5, b"k", b"junk", sent)
    outcome = process(record, fuzz_state(), datetime(2026, 6, 1, tzinfo=UTC))
    copy = next(r for r in outcome.records if r.topic == QUARANTINE_TOPIC)
    bus_own = [(n, v) for n, v in copy.headers if n.startswith("bus_")]
    assert [n for n, _ in bus_own] == [
        "bus_quarantine_reason",
        "bus_quarantine_detail",
        "bus_input",
    ]
    assert outcome.quarantine_reason == "UNEXPECTED_CLAIM"  # the bus_ headers, checked first
    assert bus_own[0][1] == b"UNEXPECTED_CLAIM"
    assert sender_headers(copy.headers) == sent  # nothing lost
