"""CloudEvents Kafka protocol binding, binary content mode: attributes in `ce_` headers, the SD-JWT
as the value, the subject as the key so that each person's events stay in order on one partition."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bus.catalog import CATALOG, Catalog
from bus.envelope.attributes import format_time, parse_time
from bus.envelope.codec import IssuedEvent, VerifiedEvent, verify_event
from bus.envelope.errors import (
    AttributeMismatchError,
    MalformedTokenError,
    MissingAttributeError,
    TopicMismatchError,
    UnexpectedClaimError,
)
from bus.kafka.topics import ingress_topic
from bus.keys import KeyStore

Headers = list[tuple[str, bytes]]
# The headers ingress_record writes, each from the issued event.
_INGRESS_HEADER_VALUES: dict[str, Callable[[IssuedEvent], str]] = {
    "ce_specversion": lambda issued: issued.attributes.specversion,
    "ce_id": lambda issued: issued.attributes.id,
    "ce_source": lambda issued: issued.attributes.source,
    "ce_type": lambda issued: issued.attributes.type,
    "ce_subject": lambda issued: issued.subject,
    "ce_time": lambda issued: format_time(issued.attributes.time),
    "ce_dataschema": lambda issued: issued.attributes.dataschema,
    "content-type": lambda issued: issued.attributes.datacontenttype,
}
# Exactly those. An ingress record with any other header is refused: headers are not signed, so
# anything more would be an unchecked claim beside the event.
INGRESS_HEADERS = frozenset(_INGRESS_HEADER_VALUES)


@dataclass(frozen=True)
class KafkaRecord:
    """A record to send: topic, key (the subject), value (the SD-JWT) and `ce_` headers."""

    topic: str
    key: bytes = field(repr=False)
    value: bytes = field(repr=False)
    headers: Headers = field(repr=False)


def ingress_record(issued: IssuedEvent) -> KafkaRecord:
    """The record a producer sends for `issued`: to its type's ingress topic, keyed by the
    subject, with exactly the INGRESS_HEADERS."""
    return KafkaRecord(
        topic=ingress_topic(issued.attributes.type),
        key=issued.subject.encode(),
        value=issued.token.encode("ascii"),
        headers=[(name, value(issued).encode()) for name, value in _INGRESS_HEADER_VALUES.items()],
    )


def header_map(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """Headers by name, for reading records the bus wrote (a quarantine copy keeps a sender's
    headers as they came): a header without a value is left out, bytes that are not UTF-8 read as
    U+FFFD, the last of a repeated name counts. Never raises; verification uses `strict_headers`."""
    return {
        name: value.decode(errors="replace") for name, value in headers if isinstance(value, bytes)
    }


def strict_headers(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """Headers by name; refuses a header without a value, not UTF-8, or occurring twice (which
    of two values would count is exactly what a forger would like to choose)."""
    decoded: dict[str, str] = {}
    for name, value in headers:
        if not isinstance(value, bytes):
            raise MalformedTokenError(f"record header {name[:40]!r} has no value")
        if name in decoded:
            raise MalformedTokenError(f"record header {name[:40]!r} occurs twice")
        try:
            decoded[name] = value.decode()
        except UnicodeDecodeError:
            raise MalformedTokenError(f"record header {name[:40]!r} is not UTF-8") from None
    return decoded


def verify_record(
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
    keys: KeyStore,
    catalog: Catalog = CATALOG,
) -> VerifiedEvent:
    """Verify the token and check that the clear headers say what the signed attributes say."""
    return _verify(value, strict_headers(headers), keys, catalog)


def verify_ingress_record(
    topic: str,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
    keys: KeyStore,
    catalog: Catalog = CATALOG,
    topic_of: Callable[[str], str] = ingress_topic,
) -> VerifiedEvent:
    """As verify_record, for a producer's record: only the headers ingress_record writes, and on
    the ingress topic of the type it signs, `topic_of(type)` (a topic's ACLs and limits are
    chosen per type)."""
    by_name = strict_headers(headers)
    unexpected = by_name.keys() - INGRESS_HEADERS
    if unexpected:
        names = ", ".join(repr(n[:40]) for n in sorted(unexpected)[:5])
        raise UnexpectedClaimError(f"record headers the bus does not accept: {names}")
    verified = _verify(value, by_name, keys, catalog)
    expected = topic_of(verified.attributes.type)
    if topic != expected:
        raise TopicMismatchError(
            f"a {verified.attributes.type} event on topic {topic[:120]!r}; its topic is {expected!r}"
        )
    return verified


def _verify(
    value: bytes | None, headers: Mapping[str, str], keys: KeyStore, catalog: Catalog
) -> VerifiedEvent:
    if not value:
        raise MalformedTokenError("record has no value")
    verified = verify_event(value, keys, catalog)
    _check_headers(headers, verified)
    return verified


def _check_headers(headers: Mapping[str, str], verified: VerifiedEvent) -> None:
    a = verified.attributes
    expected = {
        "ce_id": a.id,
        "ce_source": a.source,
        "ce_type": a.type,
        "ce_dataschema": a.dataschema,
        "ce_specversion": a.specversion,
    }
    for name, signed in expected.items():
        if name not in headers:
            raise MissingAttributeError(f"record header {name} is missing")
        if headers[name] != signed:
            raise AttributeMismatchError(
                f"header {name}={headers[name]!r} but the signed attribute is {signed!r}"
            )
    subject = verified.subject
    if subject is not None and headers.get("ce_subject", subject) != subject:
        raise AttributeMismatchError("header ce_subject differs from the signed subject")
    if headers.get("content-type", a.datacontenttype) != a.datacontenttype:
        raise AttributeMismatchError("header content-type differs from the signed one")
    if "ce_time" in headers and not _same_time(headers["ce_time"], a.time):
        raise AttributeMismatchError("header ce_time differs from the signed time")


def _same_time(text: str, signed: datetime) -> bool:
    try:
        return parse_time(text) == signed
    except (ValueError, TypeError):  # not a time; or a naive one, not comparable
        return False
