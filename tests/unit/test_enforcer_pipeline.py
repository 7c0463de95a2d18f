"""The enforcer's per-record work: permits deliver only released fields, every decision is audited,
and every invalid input is quarantined with its reason and original bytes."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.partitioner import DefaultPartitioner

from bus.catalog.population import Address
from bus.enforcer.pipeline import MAX_DETAIL_CHARS, EnforcerState, InRecord, process
from bus.envelope import sdjwt
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.key_partition import key_partition
from bus.kafka.topics import AUDIT_TOPIC, QUARANTINE_TOPIC, delivery_topic
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.policy.documents import ProducerAuthority, TerritorialRule
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from bus.record.erase_by import ERASE_BY_HEADER, erase_by_text, parse_erase_by
from bus.record.pseudonyms import Pseudonymizer
from bus.util.encoding import b64url_encode
from tests.support.events import address_changed
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
MUNI = AgencySigningKey.generate("muni-muc")
ROGUE = AgencySigningKey.generate("muni-rgb")
SNAPSHOT = compile_snapshot(
    policy_set(
        agencies=(
            agency("muni-muc", "09162000", "population-register"),
            agency("muni-rgb", "09362000", "population-register"),
            agency("tax-by", "09", "taxation"),
            agency("benefits", "DE", "social-benefits"),
            agency("police-by", "09", "policing"),
        ),
        purposes=(
            purpose("tax", "taxation", retention_days=3650),
            purpose("benefits", "social-benefits"),
            purpose("security", "policing", blocked=True),
        ),
        grants=(
            grant("g-tax", "tax-by", "tax", fields=("subject_id", "new_address")),
            grant(
                "g-benefits",
                "benefits",
                "benefits",
                fields=("new_address", "effective_date"),
                territorial_rule=TerritorialRule.EITHER_ADDRESS,
            ),
            grant(
                "g-police",
                "police-by",
                "security",
                include_disclosure_blocked=True,
                territorial_rule=TerritorialRule.EITHER_ADDRESS,
            ),
        ),
        producers=(
            ProducerAuthority(agency="muni-muc", event_types=(TYPE,), territory="09162000"),
            ProducerAuthority(agency="muni-rgb", event_types=(TYPE,), territory="09362000"),
        ),
    )
)
SUBSCRIPTIONS = (
    Subscription("tax-by", TYPE, "tax"),
    Subscription("benefits", TYPE, "benefits"),
    Subscription("police-by", TYPE, "security"),
)
STATE = EnforcerState(
    snapshot=SNAPSHOT,
    keys=KeyStore([public_key_from_pem(k.agency_id, k.public_pem()) for k in (MUNI, ROGUE)]),
    subscriptions={TYPE: SUBSCRIPTIONS},
    pseudonyms=Pseudonymizer(b"k" * 32),
)
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)


def _input(event_key: AgencySigningKey = MUNI, **overrides: object) -> InRecord:
    # A move into Munich, registered by Munich's population register.
    values: dict[str, object] = {"new_address": MUNICH, "subject_id": "P-4711-0815"}
    values.update(overrides)
    record = ingress_record(issue_event(address_changed(**values), event_key))  # type: ignore[arg-type]
    return InRecord(record.topic, 0, 42, record.key, record.value, record.headers)


def _audits(records: list) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(r.value) for r in records if r.topic == AUDIT_TOPIC]


def test_permitted_consumers_get_only_their_released_fields() -> None:
    outcome = process(_input(), STATE, NOW)
    deliveries = {r.topic: r for r in outcome.records if r.topic.startswith("bus.delivery.")}
    assert set(deliveries) == {
        delivery_topic("tax-by", "tax"),
        delivery_topic("benefits", "benefits"),
        delivery_topic("police-by", "security"),
    }
    tax = deliveries[delivery_topic("tax-by", "tax")]
    assert tax.key == b"P-4711-0815"
    assert header_map(tax.headers)["ce_subject"] == "P-4711-0815"
    benefits = deliveries[delivery_topic("benefits", "benefits")]
    assert benefits.key is not None
    # The benefits grant does not release the identifier: neither key, header nor value carry it.
    assert b"P-4711-0815" not in benefits.key + benefits.value + b"".join(
        v or b"" for _, v in benefits.headers
    )
    assert benefits.key.startswith(b"psn-")
    assert b"Leopoldstra" not in tax.value  # encoded inside disclosures, never plain
    assert len(_audits(outcome.records)) == 3


def test_every_decision_is_audited_with_reasons_grant_and_snapshot() -> None:
    blocked = process(_input(disclosure_block=True), STATE, NOW)
    audits = {a["consumer"]: a for a in _audits(blocked.records)}
    assert audits["tax-by"]["outcome"] == "DENY"
    assert audits["tax-by"]["reasons"] == ["DISCLOSURE_BLOCKED"]
    assert audits["police-by"]["outcome"] == "PERMIT"
    assert audits["police-by"]["grant_id"] == "g-police"
    assert all(a["snapshot_hash"] == SNAPSHOT.hash for a in audits.values())
    assert all(a["subject_pseudonym"].startswith("psn-") for a in audits.values())
    assert all("P-4711-0815" not in json.dumps(a) for a in audits.values())
    topics = [r.topic for r in blocked.records]
    assert delivery_topic("tax-by", "tax") not in topics


def test_each_delivery_carries_the_deadline_of_its_purposes_retention() -> None:
    outcome = process(_input(), STATE, NOW)
    deadlines = {
        r.topic: header_map(r.headers)[ERASE_BY_HEADER]
        for r in outcome.records
        if r.topic.startswith("bus.delivery.")
    }
    # The same date the audit trail derives from the PERMIT's decided_at and the snapshot.
    days = {p: SNAPSHOT.purposes[p].retention_days for p in ("tax", "benefits", "security")}
    assert deadlines[delivery_topic("tax-by", "tax")] == erase_by_text(NOW, days["tax"])
    assert deadlines[delivery_topic("police-by", "security")] == erase_by_text(
        NOW, days["security"]
    )
    assert parse_erase_by(deadlines[delivery_topic("benefits", "benefits")]) == NOW + timedelta(
        days=days["benefits"]
    )


def _quarantined(record: InRecord) -> tuple[str | None, list[dict]]:  # type: ignore[type-arg]
    outcome = process(record, STATE, NOW)
    assert not [r for r in outcome.records if r.topic.startswith("bus.delivery.")]
    quarantine = [r for r in outcome.records if r.topic == QUARANTINE_TOPIC]
    assert len(quarantine) == 1
    assert quarantine[0].value == (record.value or b"")  # the original bytes, untouched
    reason = header_map(quarantine[0].headers)["bus_quarantine_reason"]
    assert reason == outcome.quarantine_reason
    return outcome.quarantine_reason, _audits(outcome.records)


def test_forged_signature_is_quarantined() -> None:
    good = _input()
    assert good.value is not None
    jwt, rest = good.value.split(b"~", 1)
    forged = jwt[:-4] + (b"AAAA" if not jwt.endswith(b"AAAA") else b"BBBB") + b"~" + rest
    reason, audits = _quarantined(InRecord(good.topic, 0, 1, good.key, forged, good.headers))
    assert reason == "BAD_SIGNATURE"
    assert audits[0]["outcome"] == "QUARANTINED"


def test_producer_outside_its_authority_is_quarantined() -> None:
    # Regensburg's register announcing a move into Munich: not its territory.
    reason, audits = _quarantined(_input(ROGUE))
    assert reason == "PRODUCER_NOT_AUTHORITATIVE"
    assert audits[0]["producer"] == "muni-rgb"


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"\x00\x01garbage", "MALFORMED"), (None, "MALFORMED"), (b"x" * 300_000, "OVERSIZED")],
)
def test_malformed_and_oversized_records_are_quarantined(value: bytes | None, reason: str) -> None:
    got, audits = _quarantined(InRecord("bus.ingress.x", 0, 7, b"k", value, []))
    assert got == reason
    assert audits[0]["input"] == {"topic": "bus.ingress.x", "partition": 0, "offset": 7}


def test_header_disagreeing_with_the_signed_type_is_quarantined() -> None:
    good = _input()
    headers = [(k, b"tax.Unknown" if k == "ce_type" else v) for k, v in good.headers]
    reason, _ = _quarantined(InRecord(good.topic, 0, 3, good.key, good.value, headers))
    assert reason == "ATTRIBUTE_MISMATCH"


def test_signed_event_of_an_unknown_type_is_quarantined() -> None:
    issued = issue_event(address_changed(), MUNI)
    claims = {**issued.attributes.claims(), "ce_type": "tax.Unknown", "ce_dataschema": "urn:x"}
    token = sdjwt.issue(claims, {"subject_id": "P-4711-0815"}, MUNI).encode()
    headers = [("ce_id", issued.attributes.id.encode()), ("ce_type", b"tax.Unknown")]
    reason, audits = _quarantined(InRecord("bus.ingress.tax.Unknown", 0, 9, b"k", token, headers))
    assert reason == "UNKNOWN_TYPE"
    assert audits[0]["reasons"] == ["UNKNOWN_TYPE"]


def test_a_record_off_its_keys_partition_is_quarantined() -> None:
    # The memory of accepted events is per partition: a republication written to another
    # partition than its key's would escape it and be delivered twice.
    good = _input()
    assert good.key is not None
    right = key_partition(good.key, 8)
    wrong = (right + 1) % 8
    on_right = InRecord(good.topic, right, 1, good.key, good.value, good.headers, 8)
    assert process(on_right, STATE, NOW).quarantine_reason is None
    reason, audits = _quarantined(
        InRecord(good.topic, wrong, 1, good.key, good.value, good.headers, 8)
    )
    assert reason == "PARTITION_MISMATCH"
    assert [a["reasons"] for a in audits] == [["PARTITION_MISMATCH"]]


@pytest.mark.parametrize("key", [b"", b"a", b"P-4711-0815", "Müller-ß".encode(), bytes(range(256))])
def test_the_keys_partition_is_the_default_partitioners(key: bytes) -> None:
    # As aiokafka (and the Java client) place a keyed record.
    all_partitions = list(range(12))
    assert key_partition(key, 12) == DefaultPartitioner()(key, all_partitions, all_partitions)


def test_a_quarantine_detail_is_bounded_for_logs_too() -> None:
    # A detail quotes the sender's bytes (here a 150 KB key id): the log line the loop writes
    # from the outcome carried all of it.
    good = _input()
    assert good.value is not None
    forged = forged_header(
        good.value, {"alg": "EdDSA", "typ": sdjwt.TOKEN_TYPE, "kid": "k" * 150_000}
    )
    outcome = process(InRecord(good.topic, 0, 1, good.key, forged, good.headers), STATE, NOW)
    assert outcome.quarantine_reason == "UNKNOWN_KEY"
    assert outcome.quarantine_detail is not None
    assert len(outcome.quarantine_detail) <= MAX_DETAIL_CHARS


def forged_header(token: bytes, header: dict[str, str]) -> bytes:
    _, rest = token.split(b".", 1)
    return b64url_encode(json.dumps(header).encode()).encode() + b"." + rest
