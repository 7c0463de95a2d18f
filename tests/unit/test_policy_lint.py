"""Each lint rule fires on a minimal broken copy of the reference set, and only where it should."""

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bus.catalog import Catalog, DataClass
from bus.catalog.population import AddressChanged, PersonDiedV1
from bus.catalog.vehicles import VehicleOwnershipChanged
from bus.policy.documents import Agency, Grant, TerritorialRule, Territory
from bus.policy.lint import Finding, format_findings, lint
from bus.policy.loader import PolicySet, load_policy_set

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "policies" / "reference"
REFERENCE = load_policy_set(REFERENCE_DIR)
JUNE_2026 = datetime(2026, 6, 1, tzinfo=UTC)
_KEYS = {"territories": "code", "agencies": "id", "purposes": "code", "grants": "id"}


def index_of(section: str, key: str) -> int:
    items = getattr(getattr(REFERENCE, section), section)
    if section == "producers":
        return next(i for i, item in enumerate(items) if item.agency == key)
    return next(i for i, item in enumerate(items) if getattr(item, _KEYS[section]) == key)


def edited(section: str, key: str, policy_set: PolicySet = REFERENCE, **update: Any) -> PolicySet:
    """A copy with one entry changed; model_copy skips validation, as a lint test wants."""
    file = getattr(policy_set, section)
    items = list(getattr(file, section))
    index = index_of(section, key)
    items[index] = items[index].model_copy(update=update)
    return replace(policy_set, **{section: file.model_copy(update={section: tuple(items)})})


def appended(section: str, item: Any, policy_set: PolicySet = REFERENCE) -> PolicySet:
    file = getattr(policy_set, section)
    items = (*getattr(file, section), item)
    return replace(policy_set, **{section: file.model_copy(update={section: items})})


def findings_for(policy_set: PolicySet) -> list[Finding]:
    return lint(policy_set, now=JUNE_2026)


def assert_finds(policy_set: PolicySet, key: str, severity: str, fragment: str) -> None:
    found = [f for f in findings_for(policy_set) if f.key == key]
    assert any(f.severity == severity and fragment in f.message for f in found), format_findings(
        findings_for(policy_set)
    )


def test_reference_set_has_no_errors() -> None:
    assert [f for f in findings_for(REFERENCE) if f.severity == "error"] == []


G = "grants"
TAX_BY = index_of(G, "tax-by-address")
DEATH = index_of(G, "tax-by-death")
ZOLL = index_of(G, "zoll-de-vehicle-tax")
ELECT = index_of(G, "elect-09162000-address")
PILOT = index_of(G, "pilot-tax-by-address-2025")


@pytest.mark.parametrize(
    ("policy_set", "key", "severity", "fragment"),
    [
        pytest.param(
            edited(G, "tax-by-address", consumer="tax-xx"),
            f"grants[{TAX_BY}].consumer",
            "error",
            "unknown consumer agency tax-xx",
            id="unknown-consumer",
        ),
        pytest.param(
            edited(G, "tax-by-address", purpose="nope"),
            f"grants[{TAX_BY}].purpose",
            "error",
            "unknown purpose nope",
            id="unknown-purpose",
        ),
        pytest.param(
            edited(G, "tax-by-address", event_types=("population.Married",)),
            f"grants[{TAX_BY}].event_types",
            "error",
            "unknown event type population.Married",
            id="unknown-event-type",
        ),
        pytest.param(
            edited(G, "tax-by-address", fields=("subject_id", "income")),
            f"grants[{TAX_BY}].fields",
            "error",
            "has no field income",
            id="unknown-field",
        ),
        pytest.param(
            edited(G, "tax-by-death", fields=("subject_id", "cause_of_death_code")),
            f"grants[{DEATH}].fields",
            "error",
            "special-category field cause_of_death_code",
            id="special-category",
        ),
        pytest.param(
            edited(G, "tax-by-death", fields=("subject_id", "cause_of_death_code")),
            f"grants[{DEATH}].fields",
            "error",
            "cause_of_death_code (special-category)",
            id="special-category-class-not-allowed",
        ),
        pytest.param(
            edited(
                "purposes", "vehicle-tax", data_classes=(DataClass.IDENTIFIER, DataClass.PERSONAL)
            ),
            f"grants[{ZOLL}].fields",
            "error",
            "vehicle_class (public)",
            id="data-class",
        ),
        pytest.param(
            edited(G, "pilot-tax-by-address-2025", valid_until=datetime(2026, 2, 1, tzinfo=UTC)),
            f"grants[{PILOT}].valid_from",
            "error",
            "pilot-tax-by-address-2025 overlaps grant tax-by-address (grants[0])",
            id="overlap",
        ),
        pytest.param(
            REFERENCE,
            f"grants[{PILOT}].valid_until",
            "warning",
            "expired on 2026-01-01",
            id="expired",
        ),
        pytest.param(
            edited(G, "tax-by-address", valid_until=datetime(2025, 1, 1, tzinfo=UTC)),
            f"grants[{TAX_BY}].valid_until",
            "error",
            "never valid",
            id="empty-window",
        ),
        pytest.param(
            edited(G, "tax-by-address", include_disclosure_blocked=True),
            f"grants[{TAX_BY}].include_disclosure_blocked",
            "error",
            "does not allow persons under a disclosure block",
            id="disclosure-block",
        ),
        pytest.param(
            edited(G, "tax-by-address", territorial_rule=TerritorialRule.NATIONWIDE),
            f"grants[{TAX_BY}].territorial_rule",
            "error",
            "tax-by's is 09",
            id="nationwide-not-national",
        ),
        pytest.param(
            edited(G, "tax-by-death", territorial_rule=TerritorialRule.NEW_ADDRESS),
            f"grants[{DEATH}].territorial_rule",
            "error",
            "needs location new_address, which population.PersonDied does not have",
            id="rule-location",
        ),
        pytest.param(
            edited(G, "zoll-de-vehicle-tax", territorial_rule=TerritorialRule.EITHER_ADDRESS),
            f"grants[{ZOLL}].territorial_rule",
            "error",
            "needs location new_address, previous_address",
            id="either-needs-both",
        ),
        pytest.param(
            edited(G, "elect-09162000-address", purpose="tax-residence"),
            f"grants[{ELECT}].purpose",
            "warning",
            "not competent for taxation",
            id="not-competent",
        ),
    ],
)
def test_grant_rules(policy_set: PolicySet, key: str, severity: str, fragment: str) -> None:
    assert_finds(policy_set, key, severity, fragment)


MUNI = index_of("agencies", "muni-09162000")
PRODUCER = index_of("producers", "kba-de")


@pytest.mark.parametrize(
    ("policy_set", "key", "fragment"),
    [
        pytest.param(
            edited("purposes", "tax-residence", legal_basis="  "),
            f"purposes[{index_of('purposes', 'tax-residence')}].legal_basis",
            "legal basis is empty",
            id="empty-legal-basis",
        ),
        pytest.param(
            edited("agencies", "muni-09162000", jurisdiction="09999000"),
            f"agencies[{MUNI}].jurisdiction",
            "unknown territory 09999000",
            id="jurisdiction",
        ),
        pytest.param(
            edited("producers", "kba-de", agency="kba-xx"),
            f"producers[{PRODUCER}].agency",
            "unknown agency kba-xx",
            id="producer-agency",
        ),
        pytest.param(
            edited("producers", "kba-de", territory="XX"),
            f"producers[{PRODUCER}].territory",
            "unknown territory XX",
            id="producer-territory",
        ),
        pytest.param(
            edited("producers", "kba-de", event_types=("vehicles.Crashed",)),
            f"producers[{PRODUCER}].event_types",
            "unknown event type vehicles.Crashed",
            id="producer-event-type",
        ),
        pytest.param(
            edited("territories", "09162", parent="99"),
            f"territories[{index_of('territories', '09162')}].parent",
            "unknown parent 99",
            id="territory-parent",
        ),
        pytest.param(
            edited("territories", "DE", parent="09162000"),
            f"territories[{index_of('territories', 'DE')}].parent",
            "DE -> 09162000 -> 09162 -> 09 -> DE",
            id="territory-cycle",
        ),
    ],
)
def test_reference_rules(policy_set: PolicySet, key: str, fragment: str) -> None:
    assert_finds(policy_set, key, "error", fragment)


def _first(section: str) -> Any:
    return getattr(getattr(REFERENCE, section), section)[0]


@pytest.mark.parametrize(
    ("section", "attribute", "copy"),
    [
        ("territories", "code", _first("territories").model_copy(update={"name": "Again"})),
        ("agencies", "id", _first("agencies").model_copy(update={"kafka_principal": "User:other"})),
        ("agencies", "kafka_principal", _first("agencies").model_copy(update={"id": "other"})),
        ("purposes", "code", _first("purposes")),
        ("grants", "id", _first("grants").model_copy(update={"consumer": "tax-he"})),
    ],
)
def test_duplicates(section: str, attribute: str, copy: Any) -> None:
    policy_set = appended(section, copy)
    count = len(getattr(getattr(policy_set, section), section))
    assert_finds(policy_set, f"{section}[{count - 1}].{attribute}", "error", f"{section}[0]")


def test_a_self_parent_is_a_cycle_and_only_members_are_reported() -> None:
    loop = Territory(code="XX", name="Loop", level="district", parent="XX")
    findings = findings_for(appended("territories", loop))
    assert [f.message for f in findings if f.severity == "error"] == [
        "territory XX: its parents form a cycle (XX -> XX)"
    ]


def test_nationwide_is_fine_for_a_national_consumer_and_half_open_windows_do_not_overlap() -> None:
    # zoll-de is national; the pilot ends exactly when tax-by-address starts.
    keys = {f.key for f in findings_for(REFERENCE)}
    assert f"grants[{ZOLL}].territorial_rule" not in keys
    assert f"grants[{TAX_BY}].valid_from" not in keys


def test_overlap_needs_the_same_purpose_and_a_shared_event_type() -> None:
    other_purpose = appended(
        "grants", _first("grants").model_copy(update={"id": "x", "purpose": "tax-death"})
    )
    assert not any("overlaps" in f.message for f in findings_for(other_purpose))
    same = appended("grants", _first("grants").model_copy(update={"id": "x"}))
    assert any("overlaps" in f.message for f in findings_for(same))


def test_findings_name_the_file_and_format_as_lines() -> None:
    broken = edited(G, "tax-by-address", consumer="tax-xx", fields=("subject_id", "income"))
    findings = [f for f in findings_for(broken) if f.severity == "error"]
    assert {f.file for f in findings} == {str(REFERENCE_DIR / "grants.yaml")}
    lines = format_findings(findings).splitlines()
    assert lines[0] == (
        f"{REFERENCE_DIR / 'grants.yaml'}: grants[{TAX_BY}].consumer: error: "
        "grant tax-by-address: unknown consumer agency tax-xx"
    )
    assert len(lines) == len(findings)


def test_a_set_built_in_python_lints_too() -> None:
    agency = Agency(
        id="tax-by",
        name="t",
        level="state",
        jurisdiction="09",
        competences=("taxation",),
        kafka_principal="User:tax-by",
    )
    grant = Grant.model_validate(
        {**_first("grants").model_dump(), "consumer": "tax-by", "valid_from": JUNE_2026}
    )
    policy_set = replace(
        REFERENCE,
        agencies=REFERENCE.agencies.model_copy(update={"agencies": (agency,)}),
        grants=REFERENCE.grants.model_copy(update={"grants": (grant,)}),
        producers=REFERENCE.producers.model_copy(update={"producers": ()}),
        approvals=None,  # its approvers speak for agencies this set does not have
    )
    assert findings_for(policy_set) == []


def test_an_event_type_about_a_person_without_a_disclosure_block_flag_is_an_error() -> None:
    # A catalogue whose latest PersonDied cannot say that the person is protected.
    without_flag = Catalog([AddressChanged, PersonDiedV1, VehicleOwnershipChanged])
    found = lint(REFERENCE, catalog=without_flag, now=JUNE_2026)
    keys = {f.key for f in found if "disclosure-block" in f.message and f.severity == "error"}
    assert keys == {f"grants[{index_of(G, g)}].event_types" for g in _DEATH_GRANTS}
    assert not [f for f in lint(REFERENCE, now=JUNE_2026) if "disclosure-block" in f.message]


_DEATH_GRANTS = [g.id for g in REFERENCE.grants.grants if "population.PersonDied" in g.event_types]
