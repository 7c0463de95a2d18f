"""The policy topic's reader accepts a set only if its approvals (the record's headers) satisfy the
set accepted before it; an unsigned or under-approved record — even one written with admin
credentials — is refused with the reason, and the set before it stays in force. What is in force
still does not depend on compaction."""

import base64
import functools
import json
from collections.abc import Sequence
from dataclasses import replace

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.control.policy_approvals import APPROVAL_HEADER, approval_headers, approvals_from_headers
from bus.control.policy_chain import PolicyRecord, approved_in_force
from bus.control.policy_in_force import PolicyInForce
from bus.control.policy_store import policy_from_record, snapshot_key
from bus.policy.approval_signatures import Approval
from bus.policy.loader import PolicySet
from bus.policy.snapshot import canonical_bytes, content_hash
from tests.support.approvals import BOARD
from tests.unit.test_policy_approvals import APPROVERS, GOVERNED, NARROWED, WIDENED


def _record(
    offset: int,
    policy: PolicySet | None,
    approvals: Sequence[Approval] = (),
    key: bytes | None = None,
) -> PolicyRecord:
    if policy is None:  # a tombstone under `key`
        return PolicyRecord(offset, key, None)
    value = canonical_bytes(policy)
    return PolicyRecord(offset, snapshot_key(value), value, tuple(approval_headers(approvals)))


def _in_force(records: Sequence[PolicyRecord]) -> PolicyInForce:
    return approved_in_force("bus.policy", records, _read, approvals_from_headers)


@functools.lru_cache(maxsize=16)
def _read(key: bytes | None, value: bytes) -> PolicySet:
    return policy_from_record(key, value)  # as policy_store caches it


def _hash(in_force: PolicyInForce) -> str | None:
    return None if in_force.policy is None else content_hash(in_force.policy)


FIRST = APPROVERS.approvals(None, GOVERNED)  # every approver: the first set's own rules


def test_the_first_set_needs_its_own_approvals() -> None:
    unsigned = _in_force([_record(0, GOVERNED)])
    assert unsigned.policy is None
    [refused] = unsigned.refused
    assert refused.offset == 0
    assert refused.reason.startswith("under-approved: missing ")
    assert _hash(_in_force([_record(0, GOVERNED, FIRST)])) == content_hash(GOVERNED)


def test_an_unsigned_change_is_refused_and_the_set_before_stays() -> None:
    in_force = _in_force([_record(0, GOVERNED, FIRST), _record(1, NARROWED)])
    assert _hash(in_force) == content_hash(GOVERNED)
    [refused] = in_force.refused
    assert (refused.offset, refused.reason) == (
        1,
        "under-approved: missing 2 × role governance-board",
    )


def test_an_approved_change_goes_in_force() -> None:
    approvals = APPROVERS.approvals(GOVERNED, NARROWED, BOARD[:2])
    in_force = _in_force([_record(0, GOVERNED, FIRST), _record(1, NARROWED, approvals)])
    assert _hash(in_force) == content_hash(NARROWED)
    assert in_force.refused == ()


def test_approvals_of_one_change_cannot_be_replayed_onto_another() -> None:
    # GOVERNED -> WIDENED was approved; the same approvals do not carry NARROWED -> WIDENED.
    widened = APPROVERS.approvals(GOVERNED, WIDENED)
    narrowed = APPROVERS.approvals(GOVERNED, NARROWED, BOARD[:2])
    records = [
        _record(0, GOVERNED, FIRST),
        _record(1, NARROWED, narrowed),
        _record(2, WIDENED, widened),
    ]
    in_force = _in_force(records)
    assert _hash(in_force) == content_hash(NARROWED)
    # Every approval was for a change from GOVERNED: none counts for one from NARROWED.
    assert in_force.refused[0].reason.endswith("missing 2 × role governance-board")


def test_hostile_headers_count_for_nothing_and_crash_nothing() -> None:
    junk = replace(
        _record(1, NARROWED),
        headers=((APPROVAL_HEADER, b"\x00" * 10), (APPROVAL_HEADER, b"{}"), ("other", b"x")),
    )
    in_force = _in_force([_record(0, GOVERNED, FIRST), junk])
    assert _hash(in_force) == content_hash(GOVERNED)
    assert in_force.refused[0].reason.startswith("under-approved")


def test_withdrawing_a_set_reinstates_the_approved_one_before_it() -> None:
    approvals = APPROVERS.approvals(GOVERNED, NARROWED, BOARD[:2])
    records = [_record(0, GOVERNED, FIRST), _record(1, NARROWED, approvals)]
    withdrawn = _record(2, None, key=records[1].key)
    in_force = _in_force([*records, withdrawn])
    assert _hash(in_force) == content_hash(GOVERNED)
    assert [w.offset for w in in_force.withdrawn] == [1]


SETS = {
    "governed": (GOVERNED, FIRST),
    "narrowed": (NARROWED, APPROVERS.approvals(GOVERNED, NARROWED, BOARD[:2])),
    "narrowed-unsigned": (NARROWED, []),
    "widened": (WIDENED, APPROVERS.approvals(NARROWED, WIDENED)),
    "widened-unsigned": (WIDENED, []),
}
KEYS = {content_hash(policy).encode() for policy, _ in SETS.values()}


@settings(deadline=None, max_examples=60)  # each example judges real sets and signatures
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(SETS)), st.booleans()),  # (set, tombstone?)
        max_size=8,
    )
)
def test_what_is_in_force_never_depends_on_compaction(entries: list[tuple[str, bool]]) -> None:
    records = []
    for offset, (name, tombstone) in enumerate(entries):
        policy, approvals = SETS[name]
        key = content_hash(policy).encode()
        records.append(_record(offset, None if tombstone else policy, approvals, key=key))
    compacted = sorted({r.key: r for r in records}.values(), key=lambda r: r.offset)
    assert _hash(_in_force(records)) == _hash(_in_force(compacted))


def test_a_hostile_approver_key_in_a_record_is_a_refusal_not_a_crash() -> None:
    # An SPKI of an algorithm nobody knows (OID 1.2.3.4): `cryptography` raises no ValueError.
    der = bytes.fromhex("300c300506032a0304030300" + "0102")
    pem = (
        "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n"
        "-----END PUBLIC KEY-----\n"
    )
    document = json.loads(canonical_bytes(GOVERNED))
    document["approvals"]["approvers"][0]["public_key"] = pem
    value = rfc8785.dumps(document)
    in_force = _in_force([_record(0, GOVERNED, FIRST), PolicyRecord(1, snapshot_key(value), value)])
    assert _hash(in_force) == content_hash(GOVERNED)
    assert "not an Ed25519 public key PEM" in in_force.refused[0].reason
