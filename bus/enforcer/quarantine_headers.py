"""The headers of a quarantine copy: the sender's, each value untouched, then the bus's own
(`bus_quarantine_reason`, `bus_quarantine_detail`, `bus_input`).

A sender may send a header named like one of the bus's: a reader taking the first of two headers
of a name would read the sender's reason or position as the bus's. So the copy escapes the
sender's header names that could be mistaken, and nothing else: a name starting with `bus_` (or
with the escape prefix itself, so the escape can be undone) gets the prefix `sender.`. Every
`bus_` header of a copy is then the bus's, and `sender_headers` gives back the headers exactly as
they came (names and values, in order) — so nothing is lost, for a person or a tool that
republishes a quarantined record.
"""

from bus.enforcer.records import RecordHeaders

BUS_PREFIX = "bus_"
SENDER_PREFIX = "sender."


def escaped(headers: RecordHeaders) -> list[tuple[str, bytes | None]]:
    """The sender's `headers` for a quarantine copy, names escaped as above, values untouched."""
    return [(_escape(name), value) for name, value in headers]


def sender_headers(copy: RecordHeaders) -> list[tuple[str, bytes | None]]:
    """The headers the sender sent, from a quarantine copy's headers."""
    return [
        (name.removeprefix(SENDER_PREFIX), value)
        for name, value in copy
        if not name.startswith(BUS_PREFIX)
    ]


def _escape(name: str) -> str:
    return SENDER_PREFIX + name if name.startswith((BUS_PREFIX, SENDER_PREFIX)) else name
