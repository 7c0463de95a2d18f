"""The reference policy set: it loads, lints clean, compiles, and decides the stories it tells.

Also the loader's errors, on broken copies of it: each names the file, the line and the key.
"""

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bus.catalog import CATALOG, DataClass
from bus.catalog.population import Address, AddressChanged, PersonDied
from bus.catalog.vehicles import VehicleOwnershipChanged
from bus.policy.decision import Decision, Outcome, Reason
from bus.policy.engine import authorize_producer, decide
from bus.policy.errors import PolicyError, PolicyFileError
from bus.policy.facts import EventFacts, Subscription, facts_of
from bus.policy.lint import lint
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot
from tests.support.events import address_changed

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "policies" / "reference"
REFERENCE = load_policy_set(REFERENCE_DIR)
SNAPSHOT = compile_snapshot(REFERENCE)
JUNE_2026 = datetime(2026, 6, 1, tzinfo=UTC)
VEHICLE = "vehicles.VehicleOwnershipChanged"
MOVE = facts_of(address_changed(), "muni-09362000")  # München 09162000 -> Regensburg 09362000


def _decide(
    consumer: str,
    purpose: str,
    facts: EventFacts = MOVE,
    at: datetime = JUNE_2026,
    *,
    has_interest: bool = True,
) -> Decision:
    """The decision for a consumer holding an interest marker on the person (where its grant
    requires one), unless `has_interest` is False."""
    subscription = Subscription(consumer, facts.event_type, purpose)
    return decide(SNAPSHOT, facts, subscription, at.timestamp(), has_interest=has_interest)


def test_reference_set_lints_with_only_the_deliberate_warnings() -> None:
    findings = lint(REFERENCE, now=JUNE_2026)
    assert [f for f in findings if f.severity == "error"] == []
    assert [(f.key, f.severity) for f in findings] == [
        ("grants[6].valid_until", "warning"),
        ("approvers.public_key", "warning"),  # each deployment (and the demo) enrols its own
    ]
    assert "pilot-tax-by-address-2025" in findings[0].message


def test_reference_set_has_the_country_and_agencies_the_demo_needs() -> None:
    codes = {t.code for t in REFERENCE.territories.territories}
    assert {"DE", "09", "08", "06", "09162", "06412", "09162000", "06412000"} <= codes
    agencies = {a.id: a for a in REFERENCE.agencies.agencies}
    for expected in (
        "muni-09162000",
        "tax-by",
        "tax-bw",
        "tax-he",
        "benefits-de",
        "kba-de",
        "zoll-de",
        "elect-09162000",
        "elect-09362000",
        "police-by",
    ):
        assert agencies[expected].kafka_principal == f"User:{expected}"
    blocked = [p.code for p in REFERENCE.purposes.purposes if p.allows_disclosure_blocked]
    assert blocked == ["police-security"]
    assert all(p.legal_basis.strip() for p in REFERENCE.purposes.purposes)


def test_no_grant_releases_special_category_data() -> None:
    for grant in REFERENCE.grants.grants:
        assert not grant.releases_special_category
        for event_type in grant.event_types:
            classes = CATALOG.latest(event_type).data_classes()
            assert DataClass.SPECIAL_CATEGORY not in {classes[f] for f in grant.fields}


def test_snapshot_compiles_with_a_stable_hash() -> None:
    assert SNAPSHOT.hash.startswith("sha256:")
    assert compile_snapshot(load_policy_set(REFERENCE_DIR)).hash == SNAPSHOT.hash
    assert SNAPSHOT.within("09", "09362000")
    assert not SNAPSHOT.within("08", "09362000")


def test_move_into_regensburg_reaches_the_bavarian_tax_office() -> None:
    decision = _decide("tax-by", "tax-residence")
    assert decision.outcome is Outcome.PERMIT
    assert decision.grant_id == "tax-by-address"
    assert set(decision.released_fields) == {
        "subject_id",
        "new_address",
        "effective_date",
        "moved_abroad",
    }
    assert decision.legal_basis == "§ 36 Abs. 1 BMG i.V.m. § 139b Abs. 6 AO"


def test_the_expired_pilot_applied_in_2025_with_fewer_fields() -> None:
    decision = _decide("tax-by", "tax-residence", at=datetime(2025, 6, 1, tzinfo=UTC))
    assert decision.grant_id == "pilot-tax-by-address-2025"
    assert set(decision.released_fields) == {"subject_id", "new_address"}


@pytest.mark.parametrize(
    ("consumer", "purpose", "reason"),
    [
        ("elect-09162000", "electoral-register", Reason.OUT_OF_JURISDICTION),
        ("tax-bw", "tax-residence", Reason.OUT_OF_JURISDICTION),
        ("tax-by", "electoral-register", Reason.PURPOSE_MISMATCH),
        ("muni-09162000", "tax-residence", Reason.NO_GRANT),
    ],
)
def test_who_does_not_get_the_move(consumer: str, purpose: str, reason: Reason) -> None:
    assert _decide(consumer, purpose).reasons == (reason,)


@pytest.mark.parametrize(
    ("consumer", "purpose"),
    [
        ("elect-09362000", "electoral-register"),
        ("benefits-de", "benefits-entitlement"),
        ("kba-de", "vehicle-owner-address"),
        ("police-by", "police-security"),
    ],
)
def test_who_gets_the_move(consumer: str, purpose: str) -> None:
    assert _decide(consumer, purpose).permitted


def test_the_benefits_agency_hears_only_of_people_it_has_a_case_about() -> None:
    assert {g.id for g in REFERENCE.grants.grants if g.requires_interest} == {
        "benefits-de-address",
        "benefits-de-death",
    }
    unmarked = _decide("benefits-de", "benefits-entitlement", has_interest=False)
    assert unmarked.reasons == (Reason.NO_INTEREST,)
    assert _decide("kba-de", "vehicle-owner-address", has_interest=False).permitted


def test_only_the_police_see_persons_under_a_disclosure_block() -> None:
    blocked = facts_of(address_changed(disclosure_block=True), "muni-09362000")
    assert _decide("police-by", "police-security", blocked).permitted
    assert _decide("tax-by", "tax-residence", blocked).reasons == (Reason.DISCLOSURE_BLOCKED,)


def test_a_move_abroad_reaches_either_address_consumers_only() -> None:
    abroad = Address(street="Rue de Rivoli", house_number="1", country="FR")
    facts = facts_of(address_changed(new_address=abroad, moved_abroad=True), "muni-09162000")
    assert _decide("kba-de", "vehicle-owner-address", facts).permitted
    assert _decide("tax-by", "tax-residence", facts).reasons == (Reason.OUT_OF_JURISDICTION,)


def test_death_notifications_and_the_not_yet_valid_grant() -> None:
    died = PersonDied(
        subject_id="P-1001-2002",
        date_of_death=date(2026, 5, 2),
        registration_municipality_code="08221000",
        cause_of_death_code="I21.9",
        disclosure_block=False,
    )
    facts = facts_of(died, "muni-08221000")
    permit = _decide("benefits-de", "benefits-entitlement", facts)
    assert permit.released_fields == ("date_of_death", "subject_id")
    assert _decide("tax-bw", "tax-death", facts).reasons == (Reason.GRANT_NOT_YET_VALID,)
    later = _decide("tax-bw", "tax-death", facts, datetime(2027, 2, 1, tzinfo=UTC))
    assert later.permitted
    assert "cause_of_death_code" not in later.released_fields


def test_vehicle_events_go_nationwide_to_customs() -> None:
    change = VehicleOwnershipChanged(
        subject_id="P-1001-2002",
        plate_number="M-AB 123",
        vehicle_id="WVWZZZ1JZXW000001",
        vehicle_class="M1",
        effective_date=date(2026, 5, 2),
        disclosure_block=False,
    )
    facts = facts_of(change, "kba-de")
    assert _decide("zoll-de", "vehicle-tax", facts).permitted
    assert authorize_producer(SNAPSHOT, facts).permitted
    assert not authorize_producer(SNAPSHOT, facts_of(change, "muni-09162000")).permitted


@pytest.mark.parametrize(
    "code", ["09162000", "09362000", "09564000", "08111000", "08221000", "06412000"]
)
def test_each_register_is_the_source_for_its_own_municipality_only(code: str) -> None:
    other = "09162000" if code != "09162000" else "09362000"
    for event in (_moved_into(code), _died_in(code)):
        assert authorize_producer(SNAPSHOT, facts_of(event, f"muni-{code}")).permitted
    for event in (_moved_into(other), _died_in(other)):
        assert not authorize_producer(SNAPSHOT, facts_of(event, f"muni-{code}")).permitted


def _moved_into(code: str) -> AddressChanged:
    new = Address(street="Hauptstraße", house_number="1", municipality_code=code, country="DE")
    return address_changed(new_address=new)


def _died_in(code: str) -> PersonDied:
    return PersonDied(
        subject_id="P-1001-2002",
        date_of_death=date(2026, 5, 2),
        registration_municipality_code=code,
        disclosure_block=False,
    )


# --- loader errors --------------------------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(REFERENCE_DIR, target)
    return target


def test_a_bad_value_names_file_line_and_key(copy: Path) -> None:
    text = (copy / "grants.yaml").read_text(encoding="utf-8")
    line = text.splitlines().index("    valid_from: 2026-01-01T00:00:00Z") + 1
    broken = text.replace("valid_from: 2026-01-01T00:00:00Z", "valid_from: not-a-date", 1)
    (copy / "grants.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(PolicyFileError) as caught:
        load_policy_set(copy)
    message = str(caught.value)
    assert f"grants.yaml:{line}: grants.0.valid_from: " in message
    assert "'not-a-date'" in message
    assert (caught.value.line, caught.value.key) == (line, "grants.0.valid_from")


def test_an_unknown_key_is_refused_with_its_line(copy: Path) -> None:
    text = (copy / "purposes.yaml").read_text(encoding="utf-8")
    line = text.splitlines().index("    retention_days: 365") + 1
    broken = text.replace(
        "    retention_days: 365\n", "    retention_days: 365\n    retention: 1\n"
    )
    (copy / "purposes.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(
        PolicyFileError, match=rf"purposes.yaml:{line + 1}: purposes\.5\.retention:"
    ):
        load_policy_set(copy)


def test_invalid_yaml_names_the_file_and_line(copy: Path) -> None:
    (copy / "agencies.yaml").write_text("agencies:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyFileError, match=r"agencies\.yaml:\d+: not valid YAML"):
        load_policy_set(copy)


def test_a_missing_file_or_directory_is_named(copy: Path) -> None:
    (copy / "producers.yaml").unlink()
    with pytest.raises(PolicyFileError, match=r"producers\.yaml: missing"):
        load_policy_set(copy)
    with pytest.raises(PolicyError, match="policy set directory not found"):
        load_policy_set(copy / "nowhere")


def test_who_reports_a_move_follows_the_registration_law() -> None:
    # München -> Regensburg: Regensburg's register (the new residence) reports it, not München's.
    assert authorize_producer(SNAPSHOT, MOVE).permitted
    assert not authorize_producer(SNAPSHOT, facts_of(address_changed(), "muni-09162000")).permitted
    # München -> Vienna: a deregistration at München's register; Vienna has no code here.
    vienna = Address(street="Stephansplatz", house_number="1", country="AT")
    abroad = address_changed(new_address=vienna, moved_abroad=True)
    check = authorize_producer(SNAPSHOT, facts_of(abroad, "muni-09162000"))
    assert (check.permitted, check.territory) == (True, "09162000")
    assert not authorize_producer(SNAPSHOT, facts_of(abroad, "muni-09362000")).permitted
