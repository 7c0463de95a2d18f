"""The engine, one test per reason code, plus producer and subscription authorization."""

from datetime import UTC, datetime

from bus.catalog.population import Address
from bus.policy.decision import Outcome, Reason
from bus.policy.documents import ProducerAuthority, TerritorialRule
from bus.policy.engine import authorize_producer, authorize_subscription, decide
from bus.policy.facts import EventFacts, Subscription, facts_of
from bus.policy.snapshot import Snapshot, compile_snapshot, empty_snapshot
from tests.support.events import address_changed
from tests.support.policy_sets import agency, grant, policy_set, purpose

NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
TYPE = "population.AddressChanged"


def _snapshot() -> Snapshot:
    return compile_snapshot(
        policy_set(
            agencies=(
                agency("tax-by", "09", "taxation"),
                agency("tax-bw", "08", "taxation"),
                agency("elect-muc", "09162000", "elections"),
                agency("police-by", "09", "policing"),
                agency("muni-muc", "09162000", "population-register"),
            ),
            purposes=(
                purpose("tax", "taxation"),
                purpose("statistics", "taxation"),
                purpose("elections", "elections"),
                purpose("security", "policing", blocked=True),
            ),
            grants=(
                grant("g-tax-by", "tax-by", "tax"),
                grant(
                    "g-tax-bw-old", "tax-bw", "tax", valid_until=datetime(2026, 3, 1, tzinfo=UTC)
                ),
                grant(
                    "g-tax-bw-new",
                    "tax-bw",
                    "statistics",
                    valid_from=datetime(2027, 1, 1, tzinfo=UTC),
                ),
                grant(
                    "g-elect", "elect-muc", "tax"
                ),  # wrong competence: elections office, tax purpose
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
            ),
        )
    )


SNAPSHOT = _snapshot()
MOVE_TO_REGENSBURG = facts_of(address_changed(), "muni-muc")  # 09162000 -> 09362000
BLOCKED = facts_of(address_changed(disclosure_block=True), "muni-muc")


def _decide(
    consumer: str, purpose_code: str, facts: EventFacts = MOVE_TO_REGENSBURG
) -> list[Reason]:
    decision = decide(SNAPSHOT, facts, Subscription(consumer, TYPE, purpose_code), NOW)
    assert decision.snapshot_hash == SNAPSHOT.hash
    assert decision.explanation.startswith(decision.outcome.value)
    return list(decision.reasons)


def test_permit_releases_only_granted_fields_with_legal_basis() -> None:
    decision = decide(SNAPSHOT, MOVE_TO_REGENSBURG, Subscription("tax-by", TYPE, "tax"), NOW)
    assert decision.outcome is Outcome.PERMIT
    assert decision.grant_id == "g-tax-by"
    assert set(decision.released_fields) == {"subject_id", "new_address", "effective_date"}
    assert decision.legal_basis == "§ 1 TAXG"
    assert "releases effective_date, new_address, subject_id" in decision.explanation


def test_no_grant() -> None:
    assert _decide("muni-muc", "tax") == [Reason.NO_GRANT]


def test_purpose_mismatch() -> None:
    assert _decide("tax-by", "statistics") == [Reason.PURPOSE_MISMATCH]


def test_out_of_jurisdiction() -> None:
    # The elections office of Munich for a move out of Munich (rule: new address).
    moved_out = facts_of(address_changed(), "muni-muc")
    assert Reason.OUT_OF_JURISDICTION in _decide("elect-muc", "tax", moved_out)


def test_not_competent() -> None:
    munich = Address(street="A", house_number="1", municipality_code="09162000", country="DE")
    moved_in = facts_of(address_changed(new_address=munich), "muni-muc")
    assert _decide("elect-muc", "tax", moved_in) == [Reason.NOT_COMPETENT]


def test_grant_expired() -> None:
    assert Reason.GRANT_EXPIRED in _decide("tax-bw", "tax")


def test_grant_not_yet_valid() -> None:
    assert Reason.GRANT_NOT_YET_VALID in _decide("tax-bw", "statistics")


def test_disclosure_blocked_is_denied_unless_grant_and_purpose_allow() -> None:
    assert _decide("tax-by", "tax", BLOCKED) == [Reason.DISCLOSURE_BLOCKED]
    assert _decide("police-by", "security", BLOCKED) == [Reason.GRANTED]


def test_unknown_consumer_and_purpose() -> None:
    assert _decide("nobody", "tax") == [Reason.UNKNOWN_CONSUMER]
    assert _decide("tax-by", "no-such-purpose") == [Reason.UNKNOWN_PURPOSE]


def test_moved_abroad_is_outside_every_domestic_jurisdiction_for_a_new_address_rule() -> None:
    abroad = facts_of(
        address_changed(
            new_address=Address(street="Rue", house_number="1", country="FR"), moved_abroad=True
        ),
        "muni-muc",
    )
    assert Reason.OUT_OF_JURISDICTION in _decide("tax-by", "tax", abroad)
    # The police grant's either-address rule still finds the previous address in Bavaria.
    assert _decide("police-by", "security", abroad) == [Reason.GRANTED]


def test_empty_snapshot_denies_everything() -> None:
    decision = decide(
        empty_snapshot(), MOVE_TO_REGENSBURG, Subscription("tax-by", TYPE, "tax"), NOW
    )
    assert decision.outcome is Outcome.DENY


MUNICH = Address(street="Marienplatz", house_number="8", municipality_code="09162000", country="DE")


def _producer_reasons(facts: EventFacts) -> tuple[Reason, ...]:
    decision = authorize_producer(SNAPSHOT, facts)
    assert decision.snapshot_hash == SNAPSHOT.hash
    assert (decision.producer, decision.event_type) == (facts.producer, TYPE)
    assert decision.explanation.startswith(decision.outcome.value)
    assert decision.permitted is (decision.outcome is Outcome.PERMIT)
    return decision.reasons


def test_producer_authority_permits_the_register_of_the_reporting_location() -> None:
    # A move into Munich: Munich's register reports it (the previous address is declared).
    moved_in = facts_of(address_changed(new_address=MUNICH), "muni-muc")
    decision = authorize_producer(SNAPSHOT, moved_in)
    assert (decision.outcome, decision.reasons) == (
        Outcome.PERMIT,
        (Reason.AUTHORITATIVE_SOURCE,),
    )
    assert decision.territory == "09162000"
    assert decision.explanation == (
        "PERMIT: muni-muc is the authentic source of population.AddressChanged "
        "for subjects in 09162000."
    )


def test_producer_authority_denies_another_territorys_event() -> None:
    # A move into Regensburg, reported by Munich's register: not its territory.
    decision = authorize_producer(SNAPSHOT, MOVE_TO_REGENSBURG)
    assert decision.reasons == (Reason.PRODUCER_NOT_AUTHORITATIVE,)
    assert (decision.territory, decision.refusal) == ("09362000", None)
    assert "muni-muc is not the authentic source" in decision.explanation


def test_producer_authority_denies_an_agency_that_is_no_source() -> None:
    moved_in = facts_of(address_changed(new_address=MUNICH), "tax-by")
    assert _producer_reasons(moved_in) == (Reason.PRODUCER_NOT_AUTHORITATIVE,)


def test_producer_authority_denies_a_municipal_source_an_event_without_location() -> None:
    # Without a reporting location only a nationwide source may report the event.
    facts = EventFacts(TYPE, "muni-muc", frozenset(), {}, disclosure_blocked=False)
    assert _producer_reasons(facts) == (Reason.PRODUCER_NOT_AUTHORITATIVE,)
    assert authorize_producer(SNAPSHOT, facts).territory is None


def test_producer_authority_denies_a_reporting_location_without_municipality() -> None:
    nowhere = Address(street="Marienplatz", house_number="8", country="DE")
    facts = facts_of(address_changed(new_address=nowhere), "muni-muc")
    assert _producer_reasons(facts) == (Reason.PRODUCER_NOT_AUTHORITATIVE,)
    decision = authorize_producer(SNAPSHOT, facts)
    assert decision.territory is None
    assert decision.explanation == (
        "DENY: the event names no municipality for new_address, whose register must report it."
    )


def test_producer_authority_denies_a_second_location_in_the_bus_territory() -> None:
    # A move abroad is Munich's to report, but this one names a Munich new address as well.
    abroad = facts_of(
        address_changed(previous_address=MUNICH, new_address=MUNICH, moved_abroad=True), "muni-muc"
    )
    assert _producer_reasons(abroad) == (Reason.PRODUCER_NOT_AUTHORITATIVE,)
    refusal = authorize_producer(SNAPSHOT, abroad).refusal
    assert refusal is not None
    assert "also places new_address in 09162000" in refusal


def test_subscription_authorization() -> None:
    assert authorize_subscription(SNAPSHOT, "tax-by", TYPE, "tax", NOW).permitted
    # A grant that starts later already allows subscribing; deliveries wait for its start.
    assert authorize_subscription(SNAPSHOT, "tax-bw", TYPE, "statistics", NOW).permitted
    refused = authorize_subscription(SNAPSHOT, "tax-bw", TYPE, "tax", NOW)
    assert refused.reasons == (Reason.GRANT_EXPIRED,)
    assert authorize_subscription(SNAPSHOT, "tax-by", TYPE, "statistics", NOW).reasons == (
        Reason.PURPOSE_MISMATCH,
    )
    assert authorize_subscription(SNAPSHOT, "elect-muc", TYPE, "tax", NOW).reasons == (
        Reason.NOT_COMPETENT,
    )


def test_a_later_grant_allows_subscribing_even_beside_an_expired_one() -> None:
    # Regression: the expired grant's reasons used to win the tie and refuse the subscription.
    snapshot = compile_snapshot(
        policy_set(
            agencies=(agency("tax-by", "09", "taxation"),),
            purposes=(purpose("tax", "taxation"),),
            grants=(
                grant("g-a", "tax-by", "tax", valid_until=datetime(2026, 3, 1, tzinfo=UTC)),
                grant("g-b", "tax-by", "tax", valid_from=datetime(2027, 1, 1, tzinfo=UTC)),
            ),
        )
    )
    decision = authorize_subscription(snapshot, "tax-by", TYPE, "tax", NOW)
    assert decision.permitted
    assert decision.grant_id == "g-b"
