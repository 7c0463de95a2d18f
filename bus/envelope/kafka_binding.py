"""CloudEvents Kafka protocol binding, binary content mode: attributes in `ce_` headers, the SD-JWT
as the value, the subject as the key so that each person's events stay in order on one partition."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bus.catalog import CATALOG, Catalog
from bus.envelope.attributes import format_time
from bus.envelope.codec import IssuedEvent, VerifiedEvent, verify_event
from bus.envelope.errors import AttributeMismatchError, MalformedTokenError, MissingAttributeError
from bus.keys import KeyStore
from bus.topics import ingress_topic

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes = field(repr=False)
    value: bytes = field(repr=False)
    headers: Headers = field(repr=False)


def ingress_record(issued: IssuedEvent) -> KafkaRecord:
    a = issued.attributes
    headers = {
        "ce_specversion": a.specversion,
        "ce_id": a.id,
        "ce_source": a.source,
        "ce_type": a.type,
        "ce_subject": issued.subject,
        "ce_time": format_time(a.time),
        "ce_dataschema": a.dataschema,
        "content-type": a.datacontenttype,
    }
    return KafkaRecord(
        topic=ingress_topic(a.type),
        key=issued.subject.encode(),
        value=issued.token.encode("ascii"),
        headers=[(name, value.encode()) for name, value in headers.items()],
    )


def header_map(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    try:
        return {name: value.decode() for name, value in headers}
    except UnicodeDecodeError:
        raise MalformedTokenError("a record header is not UTF-8") from None


def verify_record(
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]],
    keys: KeyStore,
    catalog: Catalog = CATALOG,
) -> VerifiedEvent:
    """Verify the token and check that the clear headers say what the signed attributes say."""
    if not value:
        raise MalformedTokenError("record has no value")
    verified = verify_event(value, keys, catalog)
    _check_headers(header_map(headers), verified)
    return verified


def _check_headers(headers: Mapping[str, str], verified: VerifiedEvent) -> None:
    a = verified.attributes
    expected = {
        "ce_id": a.id, "ce_source": a.source, "ce_type": a.type,
        "ce_dataschema": a.dataschema, "ce_specversion": a.specversion,
    }  # fmt: skip
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
