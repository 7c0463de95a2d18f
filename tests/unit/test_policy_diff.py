"""`bus.policy.diff`: who gains or loses which fields, and which documents changed."""

from dataclasses import replace
from datetime import UTC, datetime

from bus.policy.diff import AccessChange, DocumentChange, diff
from bus.policy.documents import TerritorialRule
from tests.unit.test_policy_lint import REFERENCE, appended, edited

ADDRESS = "population.AddressChanged"


def _access(changes: list[AccessChange | DocumentChange]) -> list[AccessChange]:
    return [c for c in changes if isinstance(c, AccessChange)]


def test_identical_sets_have_no_changes() -> None:
    assert diff(REFERENCE, REFERENCE) == []


def test_widening_and_narrowing_a_grant() -> None:
    new = edited(
        "grants",
        "tax-bw-address",
        fields=("subject_id", "previous_address", "new_address", "effective_date"),
        territorial_rule=TerritorialRule.EITHER_ADDRESS,
        valid_from=datetime(2026, 3, 1, tzinfo=UTC),
    )
    changes = diff(REFERENCE, new)
    assert changes[0] == DocumentChange(
        "grants.yaml", "tax-bw-address", "changed", ("fields", "territorial_rule", "valid_from")
    )
    [access] = _access(changes)
    assert (access.consumer, access.event_type, access.purpose) == (
        "tax-bw",
        ADDRESS,
        "tax-residence",
    )
    assert access.gained == ("previous_address",)
    assert access.lost == ("moved_abroad",)
    assert access.describe() == (
        "tax-bw × population.AddressChanged × tax-residence (tax-bw-address): "
        "gains previous_address; loses moved_abroad; rule new_address -> either_address; "
        "valid 2026-01-01T00:00:00Z .. open-ended -> 2026-03-01T00:00:00Z .. open-ended"
    )
    as_json = access.to_json()
    assert as_json["kind"] == "access"
    assert as_json["before"]["territorial_rule"] == "new_address"
    assert as_json["after"]["valid_from"] == "2026-03-01T00:00:00Z"


def test_removed_and_added_grants() -> None:
    grants = tuple(g for g in REFERENCE.grants.grants if g.id != "kba-de-address")
    removed = REFERENCE.grants.model_copy(update={"grants": grants})
    new = appended(
        "grants",
        REFERENCE.grants.grants[0].model_copy(
            update={"id": "tax-by-vehicle", "event_types": (ADDRESS,), "purpose": "vehicle-tax"}
        ),
        policy_set=replace(REFERENCE, grants=removed),
    )
    changes = diff(REFERENCE, new)
    documents = [c for c in changes if isinstance(c, DocumentChange)]
    assert [(c.key, c.kind) for c in documents] == [
        ("kba-de-address", "removed"),
        ("tax-by-vehicle", "added"),
    ]
    lost, gained = _access(changes)
    assert lost.after is None
    assert lost.lost == ("new_address", "subject_id")
    assert "(kba-de-address, grant removed): loses new_address, subject_id" in lost.describe()
    assert gained.before is None
    assert gained.purpose == "vehicle-tax"
    assert "(tax-by-vehicle, new grant): gains effective_date" in gained.describe()
    assert "rule new_address; valid 2026-01-01T00:00:00Z .. open-ended" in gained.describe()


def test_a_renamed_grant_is_compared_with_its_predecessor() -> None:
    new = edited("grants", "kba-de-address", id="kba-de-address-v2", fields=("subject_id",))
    [access] = _access(diff(REFERENCE, new))
    assert access.lost == ("new_address",)
    assert "(kba-de-address -> kba-de-address-v2)" in access.describe()


def test_disclosure_block_and_other_documents() -> None:
    new = edited("grants", "police-by-address", include_disclosure_blocked=False)
    new = edited("purposes", "police-security", policy_set=new, retention_days=365)
    new = edited("agencies", "tax-he", policy_set=new, competences=("taxation", "customs"))
    changes = diff(REFERENCE, new)
    documents = {(c.file, c.key): c.attributes for c in changes if isinstance(c, DocumentChange)}
    assert documents == {
        ("grants.yaml", "police-by-address"): ("include_disclosure_blocked",),
        ("agencies.yaml", "tax-he"): ("competences",),
        ("purposes.yaml", "police-security"): ("retention_days",),
    }
    [access] = _access(changes)
    assert access.describe().endswith("no longer includes persons under a disclosure block")


def test_reordering_lists_is_no_change() -> None:
    grant = next(g for g in REFERENCE.grants.grants if g.id == "tax-by-address")
    new = edited("grants", "tax-by-address", fields=tuple(reversed(grant.fields)))
    assert diff(REFERENCE, new) == []
