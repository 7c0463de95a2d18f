"""A delivery's Kafka headers as CloudEvents HTTP binary-mode headers and back.

`ce_<attribute>` becomes `ce-<attribute>`; the bus's own headers that a receiver needs become
CloudEvents extensions (lowercase alphanumerics only): `bus_purpose` → `ce-buspurpose`,
`bus_erase_by` → `ce-buseraseby`, and the grant and policy snapshot the delivery was released
under. `content-type` stays. Anything else the record carries is not forwarded.
"""

from collections.abc import Iterable, Mapping

CONTENT_TYPE = "content-type"
_EXTENSIONS = {
    "bus_purpose": "ce-buspurpose",
    "bus_erase_by": "ce-buseraseby",
    "bus_grant": "ce-busgrant",
    "bus_snapshot": "ce-bussnapshot",
}
_BUS_HEADERS = {http: kafka for kafka, http in _EXTENSIONS.items()}
PURPOSE = _EXTENSIONS["bus_purpose"]


def http_headers(kafka_headers: Mapping[str, str]) -> dict[str, str]:
    """The HTTP headers for a delivery's (verified) Kafka headers."""
    headers: dict[str, str] = {}
    for name, value in kafka_headers.items():
        if name.startswith("ce_"):
            headers["ce-" + name.removeprefix("ce_")] = value
        elif name in _EXTENSIONS:
            headers[_EXTENSIONS[name]] = value
        elif name == CONTENT_TYPE:
            headers[CONTENT_TYPE] = value
    return headers


def kafka_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """The Kafka headers a POST's CloudEvents headers stand for, to verify the body as the consumer
    SDK verifies a record (HTTP header names are case-insensitive; a repeated one stays repeated,
    and verification refuses it)."""
    found: list[tuple[str, bytes]] = []
    for name, value in headers:
        lower = name.lower()
        if lower in _BUS_HEADERS:
            found.append((_BUS_HEADERS[lower], value.encode()))
        elif lower.startswith("ce-"):
            found.append(("ce_" + lower.removeprefix("ce-"), value.encode()))
        elif lower == CONTENT_TYPE:
            found.append((CONTENT_TYPE, value.encode()))
    return found
