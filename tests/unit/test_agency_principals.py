"""An agency's principals for offboarding and re-admission: never one the set in force gives
another agency; the set in force is the one the enforcer reads, not the newest JSON record."""

from bus.control.agency_principals import AppliedPolicies, agency_principals, applied_policies
from bus.control.policy_store import snapshot_key
from bus.policy.loader import PolicySet
from bus.policy.snapshot import EMPTY_HASH, canonical_bytes, content_hash
from tests.support.policy_sets import reference_with


def with_agency(agency: str, principal: str) -> PolicySet:
    return reference_with({agency: principal})


def record(policy_set: PolicySet) -> tuple[bytes, bytes]:
    value = canonical_bytes(policy_set)
    return snapshot_key(value), value


def test_a_principal_the_set_in_force_gives_another_agency_is_left_alone() -> None:
    # The leaver once held User:shared; the set in force gives it to the newcomer instead.
    old, current = with_agency("leaver", "User:shared"), with_agency("newcomer", "User:shared")
    applied = applied_policies(current, [record(old), record(current)])
    found = agency_principals("leaver", applied)
    assert found.principals == ("User:leaver",)
    assert found.spared == (("User:shared", "newcomer"),)
    # The newcomer's own principals: it is the one the set in force gives User:shared.
    assert agency_principals("newcomer", applied).principals == ("User:newcomer", "User:shared")


def test_every_principal_any_applied_set_gave_it_is_its_own() -> None:
    sets = [with_agency("leaver", "User:first"), with_agency("leaver", "User:second")]
    applied = applied_policies(sets[-1], [record(s) for s in sets])
    found = agency_principals("leaver", applied)
    assert found.principals == ("User:first", "User:leaver", "User:second")
    assert found.spared == ()


def test_its_credentials_name_is_spared_too_when_another_agency_holds_it() -> None:
    applied = AppliedPolicies(EMPTY_HASH, {"other": "User:leaver"}, ({"other": "User:leaver"},))
    found = agency_principals("leaver", applied)
    assert found.principals == ()
    assert found.spared == (("User:leaver", "other"),)


def test_the_bus_s_own_principals_are_never_an_agency_s() -> None:
    applied = AppliedPolicies(EMPTY_HASH, {}, ({"leaver": "User:audit-indexer"},))
    assert agency_principals("leaver", applied).principals == ("User:leaver",)


def test_the_set_in_force_is_the_one_the_enforcer_reads_not_the_newest_json() -> None:
    valid = with_agency("leaver", "User:leaver")
    # Newer, JSON with an agency list, but refused by the enforcer's reader (key is not its hash).
    refused = with_agency("leaver", "User:leaver-old")
    applied = applied_policies(valid, [record(valid), (b"not-its-hash", record(refused)[1])])
    assert applied.snapshot_hash == content_hash(valid)
    assert applied.in_force["leaver"] == "User:leaver"
    # Its principals still count: an earlier bus may have acted on it.
    assert "User:leaver-old" in agency_principals("leaver", applied).principals


def test_no_set_in_force_is_the_empty_snapshot() -> None:
    refused = with_agency("leaver", "User:leaver")
    applied = applied_policies(None, [(None, record(refused)[1]), (b"k", None), (b"k", b"[1]")])
    assert applied.snapshot_hash == EMPTY_HASH
    assert applied.in_force == {}
    assert len(applied.history) == 1  # the tombstone and the JSON list give no principals
    assert applied.history[0]["leaver"] == "User:leaver"
