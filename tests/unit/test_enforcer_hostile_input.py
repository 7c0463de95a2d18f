"""Issue 12: validly signed records from a hostile (or buggy) agency, each of which crashed the
enforcer or travelled unchecked to consumers. Each is now quarantined with a precise reason."""

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime

import pytest

from bus.catalog import Event
from bus.catalog.population import PersonDied, PersonDiedV1
from bus.enforcer.pipeline import EnforcerState, InRecord, Outcome, process
from bus.enforcer.quarantine_headers import sender_headers
from bus.envelope.kafka_binding import header_map
from bus.kafka.topics import AUDIT_TOPIC, QUARANTINE_TOPIC, ingress_topic
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.policy.documents import ProducerAuthority, TerritorialRule
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from bus.record.pseudonyms import Pseudonymizer
from bus.util.encoding import b64url_encode, json_from_b64url, sd_digest
from tests.support.events import address_changed
from tests.support.forged_tokens import Forgery, disclosure, honest, with_field
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE, DIED = "population.AddressChanged", "population.PersonDied"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
MUNI = AgencySigningKey.generate("muni-rgb")
SNAPSHOT = compile_snapshot(
    policy_set(
        agencies=(
            agency("muni-rgb", "09362000", "population-register"),
            agency("benefits", "DE", "social-benefits"),
        ),
        purposes=(purpose("benefits", "social-benefits"),),
        grants=(
            grant(
                "g-benefits",
                "benefits",
                "benefits",
                fields=("new_address", "effective_date"),
                territorial_rule=TerritorialRule.EITHER_ADDRESS,
            ),
            grant(
                "g-death",
                "benefits",
                "benefits",
                event_types=(DIED,),
                fields=("subject_id", "date_of_death"),
                territorial_rule=TerritorialRule.PLACE_OF_REGISTRATION,
            ),
        ),
        producers=(
            ProducerAuthority(agency="muni-rgb", event_types=(TYPE, DIED), territory="09362000"),
        ),
    )
)
STATE = EnforcerState(
    snapshot=SNAPSHOT,
    keys=KeyStore([public_key_from_pem(MUNI.agency_id, MUNI.public_pem())]),
    subscriptions={
        TYPE: (Subscription("benefits", TYPE, "benefits"),),
        DIED: (Subscription("benefits", DIED, "benefits"),),
    },
    pseudonyms=Pseudonymizer(b"k" * 32),
)


def _forgery() -> Forgery:
    # A move from Munich into Regensburg, registered by Regensburg's register: valid as it is.
    return honest(address_changed("P-4711-0815"), MUNI, time=NOW)


def _quarantined(record: InRecord, state: EnforcerState = STATE) -> tuple[str, str]:
    """Process `record` (which must not raise) and return its quarantine reason and detail,
    checking exactly one quarantine record with the original bytes and one audit record."""
    outcome = process(record, state, NOW)
    assert outcome.quarantine_reason is not None, "the record was not quarantined"
    assert outcome.decisions == []
    assert [r.topic for r in outcome.records] == [QUARANTINE_TOPIC, AUDIT_TOPIC]
    copy, audit = outcome.records
    assert copy.value == (record.value or b"")
    assert sender_headers(copy.headers) == list(record.headers)
    assert header_map(copy.headers[len(record.headers) :])["bus_quarantine_reason"] == (
        outcome.quarantine_reason
    )
    entry = json.loads(audit.value)
    assert entry["outcome"] == "QUARANTINED"
    assert entry["reasons"] == [outcome.quarantine_reason]
    assert outcome.quarantine_detail is not None
    return outcome.quarantine_reason, outcome.quarantine_detail


def test_the_unmodified_forgery_is_delivered() -> None:
    # The baseline of every test below: without the one bent part, the record goes through.
    outcome = process(_forgery().record(), STATE, NOW)
    assert outcome.quarantine_reason is None
    assert [d.outcome.value for d in outcome.decisions] == ["PERMIT"]
    # A delivery's headers are built from the signed attributes and the decision, never copied
    # from the input record.
    [delivery] = [r for r in outcome.records if r.topic != AUDIT_TOPIC]
    assert [name for name, _ in delivery.headers] == [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_dataschema",
        "content-type",
        "bus_purpose",
        "bus_grant",
        "bus_snapshot",
        "bus_erase_by",
    ]


def test_an_object_inside_sd_is_quarantined() -> None:
    forgery = _forgery()
    forgery.claims["_sd"] = [*forgery.claims["_sd"], {"digest": "x"}]  # crashed set(signed)
    assert _quarantined(forgery.record())[0] == "MALFORMED"


def test_a_non_list_sd_inside_a_disclosure_value_is_quarantined() -> None:
    forgery = _forgery()
    address = {
        "street": "Dom",
        "house_number": "1",
        "municipality_code": "09362000",
        "country": "DE",
        "_sd": 5,
    }
    assert _quarantined(with_field(forgery, "new_address", address).record())[0] == "MALFORMED"


def test_a_header_without_a_value_is_quarantined() -> None:
    forgery = _forgery()
    headers = [*forgery.ingress_headers(), ("ce_subject", None)]
    reason, detail = _quarantined(forgery.record(headers=headers))
    assert reason == "MALFORMED"
    assert "ce_subject" in detail


def test_a_duplicated_ce_header_is_quarantined() -> None:
    forgery = _forgery()
    headers = [*forgery.ingress_headers(), ("ce_type", b"population.PersonDied")]
    reason, detail = _quarantined(forgery.record(headers=headers))
    assert (reason, "occurs twice" in detail) == ("MALFORMED", True)


def test_a_header_that_is_not_utf8_is_quarantined() -> None:
    forgery = _forgery()
    headers = [(k, b"\xff\xfe" if k == "ce_id" else v) for k, v in forgery.ingress_headers()]
    assert _quarantined(forgery.record(headers=headers))[0] == "MALFORMED"


def test_a_time_without_zone_is_quarantined() -> None:
    forgery = _forgery()
    forgery.claims["ce_time"] = "2026-06-01T00:00:00"  # naive: crashed metrics.committed later
    reason, detail = _quarantined(forgery.record())
    assert reason == "MALFORMED"
    assert "time zone" in detail


@pytest.mark.parametrize(
    "issued_at",
    [10**400, 2**1100, -(10**309), 253_402_300_800],
    ids=["1e400", "2^1100", "-1e309", "year-10000"],
)
def test_an_iat_beyond_any_time_is_quarantined(issued_at: int) -> None:
    # JSON integers have no bound: beyond a float's range the comparison with ce_time raised
    # OverflowError, quarantined only as INTERNAL_ERROR.
    forgery = _forgery()
    forgery.claims["iat"] = issued_at
    reason, detail = _quarantined(forgery.record())
    assert reason == "MALFORMED"
    assert "iat" in detail


def test_a_claim_named_twice_is_quarantined() -> None:
    # The enforcer read the last value and another parser of the same signed bytes may read the
    # first: which subject or issuer counts must not be up to the parser.
    forgery = _forgery()
    forgery.claim_members = ',"ce_id":"00000000-0000-4000-8000-000000000000"'
    reason, detail = _quarantined(forgery.record())
    assert (reason, "twice" in detail) == ("MALFORMED", True)


def test_a_jwt_header_member_named_twice_is_quarantined() -> None:
    forgery = _forgery()
    forgery.header_members = f',"kid":"{forgery.header["kid"]}"'
    reason, detail = _quarantined(forgery.record())
    assert (reason, "twice" in detail) == ("MALFORMED", True)


def test_a_disclosure_value_naming_a_member_twice_is_quarantined() -> None:
    forgery = _forgery()
    salt = b64url_encode(b"s" * 16)
    address = '{"street":"Dom","street":"Elsewhere","house_number":"1","municipality_code":'
    address += '"09362000","country":"DE"}'
    raw = b64url_encode(f'["{salt}","new_address",{address}]'.encode())
    bent = with_field(forgery, "new_address", None)
    bent.disclosures[-1] = raw
    bent.claims["_sd"] = sorted(sd_digest(d) for d in bent.disclosures)
    reason, detail = _quarantined(bent.record())
    assert (reason, "twice" in detail) == ("MALFORMED", True)


def test_a_ce_id_that_is_not_a_uuid_is_quarantined() -> None:
    forgery = _forgery()
    forgery.claims["ce_id"] = "not-a-uuid"
    assert _quarantined(forgery.record())[0] == "MALFORMED"
    forgery.claims["ce_id"] = "{" + str(_forgery().claims["ce_id"]).upper() + "}"  # not canonical
    assert _quarantined(forgery.record())[0] == "MALFORMED"


def test_an_unexpected_signed_claim_is_quarantined() -> None:
    forgery = _forgery()
    forgery.claims["leak"] = {"subject": "P-4711-0815", "street": "Dom"}
    reason, detail = _quarantined(forgery.record())
    assert reason == "UNEXPECTED_CLAIM"
    assert "'leak'" in detail


def test_an_unexpected_jwt_header_member_is_quarantined() -> None:
    forgery = _forgery()
    forgery.header["x"] = "P-4711-0815"
    assert _quarantined(forgery.record())[0] == "UNEXPECTED_CLAIM"


def test_a_token_of_another_type_is_quarantined() -> None:
    forgery = _forgery()
    forgery.header["typ"] = "JWT"
    reason, detail = _quarantined(forgery.record())
    assert reason == "UNEXPECTED_CLAIM"
    assert "typ" in detail


def test_an_unexpected_record_header_is_quarantined() -> None:
    forgery = _forgery()
    for name in ("ce_leak", "x-subject"):
        headers = [*forgery.ingress_headers(), (name, b"P-4711-0815")]
        reason, detail = _quarantined(forgery.record(headers=headers))
        assert (reason, name in detail) == ("UNEXPECTED_CLAIM", True)


def test_a_disclosure_used_nested_and_at_top_level_is_quarantined() -> None:
    forgery = _forgery()
    inner = disclosure("moved_abroad", False)
    address = {
        "street": "Dom",
        "house_number": "1",
        "municipality_code": "09362000",
        "country": "DE",
        "_sd": [_digest(inner)],
    }
    bent = with_field(forgery, "new_address", address, nested=[inner])
    # The nested disclosure's digest is signed at the top level too, after new_address's.
    bent.claims["_sd"] = [d for d in bent.claims["_sd"] if d != _digest(inner)] + [_digest(inner)]
    bent.disclosures = [d for d in bent.disclosures if _name(d) != "moved_abroad"] + [inner]
    assert _quarantined(bent.record())[0] == "DUPLICATE_DISCLOSURE"


def test_an_event_on_another_types_ingress_topic_is_quarantined() -> None:
    record = _forgery().record(topic=ingress_topic("population.PersonDied"))
    reason, detail = _quarantined(record)
    assert reason == "TOPIC_MISMATCH"
    assert "population.AddressChanged" in detail


class _FailingSubscriptions(Mapping[str, tuple[Subscription, ...]]):
    """A state whose lookup fails as no one foresaw: stands for any bug on the per-event path."""

    def __getitem__(self, key: str) -> tuple[Subscription, ...]:
        raise ZeroDivisionError

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def get(self, key: str, default: object = None) -> tuple[Subscription, ...]:
        raise ZeroDivisionError


def test_an_unforeseen_failure_quarantines_the_record_as_internal_error() -> None:
    state = EnforcerState(
        snapshot=SNAPSHOT,
        keys=STATE.keys,
        subscriptions=_FailingSubscriptions(),
        pseudonyms=STATE.pseudonyms,
    )
    reason, detail = _quarantined(_forgery().record(), state)
    assert reason == "INTERNAL_ERROR"
    assert "ZeroDivisionError" in detail


@pytest.mark.parametrize("value", [None, b"", b"\xff" * 10])
def test_records_without_a_token_are_quarantined(value: bytes | None) -> None:
    outcome: Outcome = process(InRecord(ingress_topic(TYPE), 0, 1, None, value, []), STATE, NOW)
    assert outcome.quarantine_reason == "MALFORMED"


def _digest(encoded: str) -> str:
    return sd_digest(encoded)


def _name(encoded: str) -> str:
    return str(json_from_b64url(encoded, "disclosure")[1])


REGENSBURG = {
    "street": "Dom",
    "house_number": "1",
    "municipality_code": "09362000",
    "country": "DE",
}
MUNICH = {**REGENSBURG, "municipality_code": "09162000"}
ABROAD = {"street": "Stephansplatz", "house_number": "1", "country": "AT"}


def _move(
    previous: Mapping[str, object], new: Mapping[str, object], moved_abroad: bool
) -> InRecord:
    forgery = with_field(_forgery(), "previous_address", previous)
    forgery = with_field(forgery, "new_address", new)
    return with_field(forgery, "moved_abroad", moved_abroad).record()


def test_a_move_is_reported_by_the_register_of_the_new_residence() -> None:
    # Into Regensburg from Munich or from abroad: Regensburg's register reports it (§ 17 BMG).
    for previous in (MUNICH, ABROAD):
        assert process(_move(previous, REGENSBURG, False), STATE, NOW).quarantine_reason is None
    # Out of Regensburg abroad: Regensburg's register reports the deregistration.
    assert process(_move(REGENSBURG, ABROAD, True), STATE, NOW).quarantine_reason is None


def test_authority_is_not_borrowed_from_a_second_location() -> None:
    # A domestic move without a municipality for the new address, whose previous address lies in
    # Regensburg: the first known location used to make Regensburg's register its source.
    no_code = {**MUNICH, "municipality_code": None}
    reason, detail = _quarantined(_move(REGENSBURG, no_code, False))
    assert reason == "PRODUCER_NOT_AUTHORITATIVE"
    assert "new_address" in detail
    # Into Munich: Munich's register reports it, not Regensburg's, whatever the previous address.
    assert _quarantined(_move(REGENSBURG, MUNICH, False))[0] == "PRODUCER_NOT_AUTHORITATIVE"


def test_a_move_abroad_may_not_name_a_municipality_of_the_bus_as_new_address() -> None:
    reason, detail = _quarantined(_move(REGENSBURG, REGENSBURG, True))
    assert reason == "PRODUCER_NOT_AUTHORITATIVE"
    assert "new_address" in detail
    # Nor may a register deregister someone who lived in another municipality.
    assert _quarantined(_move(MUNICH, ABROAD, True))[0] == "PRODUCER_NOT_AUTHORITATIVE"


def _death(event: Event) -> list[str]:
    outcome = process(honest(event, MUNI, time=NOW).record(), STATE, NOW)
    assert outcome.quarantine_reason is None
    deliveries = [r for r in outcome.records if r.topic.startswith("bus.delivery.")]
    assert len(deliveries) == sum(d.permitted for d in outcome.decisions)
    return [r.value for d in outcome.decisions for r in d.reasons]


def test_the_death_of_a_protected_person_reaches_no_one_without_a_legal_basis() -> None:
    died = {
        "subject_id": "P-4711-0815",
        "date_of_death": date(2026, 5, 2),
        "registration_municipality_code": "09362000",
    }
    assert _death(PersonDied(**died, disclosure_block=False)) == ["GRANTED"]
    assert _death(PersonDied(**died, disclosure_block=True)) == ["DISCLOSURE_BLOCKED"]
    # Version 1 cannot say whether the person is protected: decided as if they were.
    assert _death(PersonDiedV1(**died)) == ["DISCLOSURE_BLOCKED"]


def test_a_value_a_lax_parser_would_coerce_is_quarantined() -> None:
    # "false" is truthy to the enforcer and False to a lax consumer: neither may decide alone.
    for name, value in (("disclosure_block", "false"), ("moved_abroad", "true")):
        reason, detail = _quarantined(with_field(_forgery(), name, value).record())
        assert (reason, name in detail) == ("INVALID_FIELD", True)


def test_a_record_keyed_by_another_than_its_subject_is_quarantined() -> None:
    # The key orders a person's events on one partition; another key lets events overtake.
    record = _forgery().record()
    for key in (b"P-0000-0000", None):
        other = InRecord(record.topic, 0, 1, key, record.value, record.headers)
        assert _quarantined(other) == (
            "ATTRIBUTE_MISMATCH",
            "the record key is not the signed subject",
        )
