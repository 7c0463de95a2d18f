"""Poison records: what a hostile or buggy register, holding its own credentials and signing key,
can put on an ingress topic. Each comes with the quarantine reason the enforcer must give it."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import size_of_varint

from bus.catalog.population import Address
from bus.control.topology import INGRESS_MAX_MESSAGE_BYTES
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import ingress_record
from bus.kafka.topics import ingress_topic
from bus.keys import AgencySigningKey
from bus.util.encoding import json_from_b64url, sd_digest
from tests.support.events import address_changed
from tests.support.forged_tokens import Forgery, disclosure, honest, with_field

TYPE = "population.AddressChanged"
OTHER_TYPE = "population.PersonDied"
Headers = list[tuple[str, bytes | None]]
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)
RECORD_BATCH_OVERHEAD = 61  # the v2 record batch header (Kafka's DefaultRecordBatch)
REGENSBURG = {
    "street": "Dom",
    "house_number": "1",
    "municipality_code": "09362000",
    "country": "DE",
}


@dataclass(frozen=True)
class Poison:
    name: str
    reason: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


def good_record(key: AgencySigningKey, subject: str) -> tuple[str, bytes, bytes, Headers]:
    """(event id, key, value, headers) of a valid move into Munich, as the register's SDK sends it."""
    record = ingress_record(issue_event(address_changed(subject, new_address=MUNICH), key))
    headers: Headers = list(record.headers)
    event_id = next(v for k, v in headers if k == "ce_id")
    assert event_id is not None
    return event_id.decode(), record.key, record.value, headers


def poisons(
    key: AgencySigningKey,
    stranger: AgencySigningKey,
    republished: Poison,
    topic_of: Callable[[str], str] = ingress_topic,
) -> list[Poison]:
    """23 distinct poison records. `stranger` has the register's agency id but a key the bus does
    not know; `republished` is a copy of a good record sent again; `topic_of` gives an event
    type's ingress topic (a test's own, or the bus's)."""
    now = datetime.now(UTC)
    topic = topic_of(TYPE)

    def forged() -> Forgery:
        return honest(address_changed("P-6666-0000", new_address=MUNICH), key, time=now)

    def signed(name: str, reason: str, forgery: Forgery) -> Poison:
        return Poison(
            name, reason, topic, b"P-6666-0000", forgery.token(), forgery.ingress_headers()
        )

    def headed(name: str, reason: str, bend: Callable[[Headers], Headers]) -> Poison:
        """A validly signed token whose own record headers are bent."""
        forgery = forged()
        headers = bend(forgery.ingress_headers())
        return Poison(name, reason, topic, b"P-6666-0000", forgery.token(), headers)

    def bent(**claims: object) -> Forgery:
        forgery = forged()
        forgery.claims.update(claims)
        return forgery

    object_in_sd = forged()
    object_in_sd.claims["_sd"] = [*object_in_sd.claims["_sd"], {"digest": "x"}]
    sd_five = with_field(forged(), "new_address", {**REGENSBURG, "_sd": 5})
    header_member = forged()
    header_member.header["x"] = "P-4711-0815"
    wrong_typ = forged()
    wrong_typ.header["typ"] = "JWT"
    twice = _disclosure_used_twice(forged())
    bad_signature = forged()
    bad_signature.key = stranger  # signed by another key under the register's key id
    plain_headers = forged().ingress_headers()
    oversized = largest_value(b"k", plain_headers)  # the broker accepts it: ~1 MiB
    altered = forged()
    altered.disclosures = [
        disclosure("moved_abroad", True) if _named(d, "moved_abroad") else d
        for d in altered.disclosures
    ]
    mismatch = forged()
    return [
        headed("null header", "MALFORMED", lambda h: [*h, ("ce_subject", None)]),
        signed("object in _sd", "MALFORMED", object_in_sd),
        signed('{"_sd": 5} in a disclosure', "MALFORMED", sd_five),
        signed("ce_time without zone", "MALFORMED", bent(ce_time="2026-06-01T00:00:00")),
        Poison("oversized ~1 MiB", "OVERSIZED", topic, b"k", oversized, list(plain_headers)),
        signed("unexpected signed claim", "UNEXPECTED_CLAIM", bent(leak={"subject": "P-1"})),
        signed("unexpected JWT header member", "UNEXPECTED_CLAIM", header_member),
        signed("wrong typ", "UNEXPECTED_CLAIM", wrong_typ),
        Poison(
            "topic mismatch",
            "TOPIC_MISMATCH",
            topic_of(OTHER_TYPE),
            b"P-6666-0000",
            mismatch.token(),
            mismatch.ingress_headers(),
        ),
        signed("ce_id not a UUID", "MALFORMED", bent(ce_id="not-a-uuid")),
        republished,
        signed("forged signature", "BAD_SIGNATURE", bad_signature),
        Poison("garbage bytes", "MALFORMED", topic, b"x", b"\x00\x01garbage\xff", []),
        Poison("empty value", "MALFORMED", topic, b"x", b"", []),
        Poison("tombstone", "MALFORMED", topic, b"x", None, []),
        headed("non-UTF-8 header", "MALFORMED", lambda h: _replaced(h, "ce_id", b"\xff\xfe")),
        headed(
            "unexpected record header",
            "UNEXPECTED_CLAIM",
            lambda h: [*h, ("x-subject", b"P-4711-0815")],
        ),
        headed(
            "duplicated ce header",
            "MALFORMED",
            lambda h: [*h, ("ce_type", b"population.PersonDied")],
        ),
        headed(
            "header contradicts the signed source",
            "ATTRIBUTE_MISMATCH",
            lambda h: _replaced(h, "ce_source", b"muni-rogue"),
        ),
        signed("unknown signing key", "UNKNOWN_KEY", honest(address_changed(), stranger, time=now)),
        signed("altered disclosure", "DIGEST_MISMATCH", altered),
        signed("disclosure used twice", "DUPLICATE_DISCLOSURE", twice),
        signed(
            "move out of its territory",
            "PRODUCER_NOT_AUTHORITATIVE",
            with_field(forged(), "new_address", REGENSBURG),
        ),
    ]


def _disclosure_used_twice(forgery: Forgery) -> Forgery:
    """moved_abroad disclosed inside new_address and at the top level, both signed."""
    inner = disclosure("moved_abroad", False)
    address = {**dict(MUNICH.model_dump(exclude_none=True)), "_sd": [sd_digest(inner)]}
    twice = with_field(forgery, "new_address", address, nested=[inner])
    twice.claims["_sd"] = [d for d in twice.claims["_sd"] if d != sd_digest(inner)] + [
        sd_digest(inner)
    ]
    twice.disclosures = [d for d in twice.disclosures if not _named(d, "moved_abroad")] + [inner]
    return twice


def largest_value(key: bytes, headers: Headers) -> bytes:
    """A value that fills an ingress record with this key and these headers to the topic's limit,
    sent as the only record of its batch (what a producer does with a record this large); the
    broker counts a few bytes less than this, so it may take a value slightly larger still."""

    def batch_size(value_size: int) -> int:  # as DefaultRecordBatchBuilder writes it
        body: int = 3 + DefaultRecordBatchBuilder.size_of(key, b"A" * value_size, headers)
        return RECORD_BATCH_OVERHEAD + body + int(size_of_varint(body))

    size = INGRESS_MAX_MESSAGE_BYTES
    while batch_size(size) > INGRESS_MAX_MESSAGE_BYTES:
        size -= max(1, batch_size(size) - INGRESS_MAX_MESSAGE_BYTES)
    return b"A" * size


def _replaced(headers: Headers, name: str, value: bytes) -> Headers:
    return [(k, value if k == name else v) for k, v in headers]


def _named(encoded: str, name: str) -> bool:
    return bool(json_from_b64url(encoded, "disclosure")[1] == name)
