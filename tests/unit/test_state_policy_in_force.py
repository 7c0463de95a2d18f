"""The policy set in force does not depend on when compaction ran: a set whose key is tombstoned
later is withdrawn (and named), so the newest valid set not withdrawn is in force before and after
compaction keeps only the last record of each key."""

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from bus.control.policy_in_force import NewestInForce, PolicyInForce
from bus.policy.loader import PolicySet
from tests.support.policy_sets import agency, policy_set

Record = tuple[int, bytes, bytes | None]  # offset, key, value (None: a tombstone)
SETS = {
    f"sha256:v{n}".encode(): policy_set(
        agencies=(agency(f"a{n}", "09", "taxation"),), purposes=(), grants=()
    )
    for n in range(1, 4)
}
GARBAGE = b"not a policy set"


def _read(key: bytes | None, value: bytes) -> PolicySet:
    if value == GARBAGE or key not in SETS:
        raise ValueError("not a policy set")
    return SETS[key]


def _in_force(records: Sequence[Record]) -> PolicyInForce:
    choice = NewestInForce("bus.policy", _read)
    for offset, key, value in reversed(records):
        if found := choice.offer(offset, key, value):
            return found
    return choice.none_in_force()


def _key_in_force(records: Sequence[Record]) -> bytes | None:
    policy = _in_force(records).policy
    return next((k for k, v in SETS.items() if v is policy), None)


def _compacted(records: Sequence[Record]) -> list[Record]:
    """What compaction leaves: the last record of each key, at its offset."""
    last = {key: (offset, key, value) for offset, key, value in records}
    return sorted(last.values())


def _log(*entries: tuple[bytes, bytes | None]) -> list[Record]:
    return [(offset, key, value) for offset, (key, value) in enumerate(entries)]


V1, V2 = b"sha256:v1", b"sha256:v2"


def test_withdrawing_the_newest_set_reinstates_the_one_before_compacted_or_not() -> None:
    records = _log((V1, b"set"), (V2, b"set"), (V2, None))
    assert _compacted(records) == [(0, V1, b"set"), (2, V2, None)]
    assert _key_in_force(records) == V1
    assert _key_in_force(_compacted(records)) == V1
    in_force = _in_force(records)
    assert in_force.refused == ()  # a tombstone is a withdrawal, not a malformed record
    assert [w.describe() for w in in_force.withdrawn] == [
        "policy set sha256:v2 (offset 1) withdrawn by the tombstone at offset 2: the set before "
        "it is in force"
    ]


def test_a_set_applied_again_after_its_withdrawal_is_in_force() -> None:
    records = _log((V1, b"set"), (V2, b"set"), (V2, None), (V2, b"set"))
    assert _key_in_force(records) == _key_in_force(_compacted(records)) == V2


def test_withdrawing_every_set_leaves_none_in_force() -> None:
    records = _log((V1, b"set"), (V1, None))
    assert _in_force(records).policy is None
    assert [w.key for w in _in_force(records).withdrawn] == [V1]


def test_a_malformed_record_under_a_sets_key_supersedes_it_as_compaction_will() -> None:
    records = _log((V1, b"set"), (V2, b"set"), (V2, GARBAGE))
    assert _key_in_force(records) == _key_in_force(_compacted(records)) == V1
    assert [r.offset for r in _in_force(records).refused] == [2]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([*SETS, b"sha256:unknown"]),
            st.sampled_from([b"set", GARBAGE, None]),
        ),
        max_size=12,
    )
)
def test_what_is_in_force_never_depends_on_compaction(
    entries: list[tuple[bytes, bytes | None]],
) -> None:
    records = _log(*entries)
    assert _key_in_force(records) == _key_in_force(_compacted(records))
