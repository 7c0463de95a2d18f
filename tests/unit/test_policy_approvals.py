"""Approvals of policy changes: what a change needs under the rules in force, which approvals
count, and that bad approvals or approvals.yaml files are refused with a clear reason, never a
crash."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from bus.catalog import DataClass
from bus.policy.approval_check import check
from bus.policy.approval_documents import ApprovalsFile, Approver, Quorum
from bus.policy.approval_files import read_approvals, write_approval
from bus.policy.approval_needs import Requirement, needs
from bus.policy.approval_signatures import Approval, parse_approval, sign
from bus.policy.documents import Grant
from bus.policy.errors import PolicyFileError
from bus.policy.lint import lint
from bus.policy.loader import APPROVALS_FILE, PolicySet, load_policy_set
from bus.policy.snapshot import content_hash, normalised_document
from tests.support.approvals import BOARD, module_approvers
from tests.support.policy_sets import REFERENCE, ungoverned

APPROVERS = module_approvers()
GOVERNED = APPROVERS.enrolled(REFERENCE)
MUNICIPAL = [f"muni-{code}" for code in ("06412000", "08111000", "08221000", "09162000")] + [
    "muni-09362000",
    "muni-09564000",
]


def _grant(policy: PolicySet, grant_id: str, **changes: object) -> PolicySet:
    grants = tuple(
        g.model_copy(update=changes) if g.id == grant_id else g for g in policy.grants.grants
    )
    return replace(policy, grants=policy.grants.model_copy(update={"grants": grants}))


def _with_grant(policy: PolicySet, grant: Grant) -> PolicySet:
    grants = (*policy.grants.grants, grant)
    return replace(policy, grants=policy.grants.model_copy(update={"grants": grants}))


def _with_approvals(policy: PolicySet, approvals: ApprovalsFile | None) -> PolicySet:
    return replace(policy, approvals=approvals)


NARROWED = _grant(GOVERNED, "kba-de-address", fields=("subject_id",))
WIDENED = _grant(GOVERNED, "kba-de-address", fields=("subject_id", "new_address", "effective_date"))
NEW_RECIPIENT = _with_grant(
    GOVERNED,
    next(g for g in GOVERNED.grants.grants if g.id == "kba-de-address").model_copy(
        update={"id": "zoll-de-address", "consumer": "zoll-de", "purpose": "vehicle-tax"}
    ),
)
BOARD_TWO = Requirement("role", "governance-board", 2, ("every change",))


def _kinds(policy: PolicySet, old: PolicySet | None = GOVERNED) -> set[tuple[str, str, int]]:
    return {(r.kind, r.name, r.count) for r in needs(old, policy).requirements}


def test_a_set_without_approvals_yaml_hashes_as_it_always_did(tmp_path: Path) -> None:
    plain = ungoverned(REFERENCE)
    assert list(normalised_document(plain)) == [
        "territories",
        "agencies",
        "purposes",
        "producers",
        "grants",
    ]
    copy = tmp_path / "plain"
    shutil.copytree(Path("policies/reference"), copy)
    (copy / APPROVALS_FILE).unlink()
    assert content_hash(load_policy_set(copy)) == content_hash(plain)
    # The rules and the approvers' keys are policy: they are hashed.
    assert content_hash(GOVERNED) not in {content_hash(plain), content_hash(REFERENCE)}


def test_every_change_needs_two_board_members_and_a_narrowing_nothing_more() -> None:
    assert needs(GOVERNED, NARROWED).requirements == (BOARD_TWO,)


def test_widening_a_grant_needs_every_producer_of_the_event_type_but_not_the_dpo() -> None:
    # kba-de received AddressChanged before: more of it needs the data owners, not the DPO.
    owners = {("agency", m, 1) for m in MUNICIPAL}
    assert _kinds(WIDENED) == {("role", "governance-board", 2), *owners}


def test_dropping_requires_interest_widens_adding_it_narrows() -> None:
    # From the people the benefits agency has a case about to everyone who moves: the data owners.
    dropped = _grant(GOVERNED, "benefits-de-address", requires_interest=False)
    owners = {("agency", m, 1) for m in MUNICIPAL}
    assert _kinds(dropped) == {("role", "governance-board", 2), *owners}
    assert _kinds(GOVERNED, old=dropped) == {("role", "governance-board", 2)}


def test_personal_data_to_a_new_recipient_also_needs_the_dpo() -> None:
    required = needs(GOVERNED, NEW_RECIPIENT).requirements
    assert ("role", "dpo", 1) in {(r.kind, r.name, r.count) for r in required}
    dpo = next(r for r in required if r.name == "dpo")
    assert dpo.reasons == (
        "personal data of population.AddressChanged to zoll-de, which received none",
    )


def test_no_change_and_an_ungoverned_set_in_force_need_nothing() -> None:
    assert needs(GOVERNED, GOVERNED).requirements == ()
    # Rules come from the set in force: a set bringing rules is judged by the old (none).
    assert needs(ungoverned(GOVERNED), GOVERNED).requirements == ()


def test_the_first_set_is_judged_by_its_own_rules() -> None:
    first = needs(None, GOVERNED)
    assert first.parent is None
    assert {("role", "governance-board", 2), ("role", "dpo", 1)} <= _kinds(GOVERNED, None)


def _approvals(old: PolicySet | None, new: PolicySet, *signers: str) -> list[Approval]:
    return APPROVERS.approvals(old, new, signers)


def test_two_distinct_board_members_approve_a_change_one_twice_does_not() -> None:
    assert check(GOVERNED, NARROWED, _approvals(GOVERNED, NARROWED, *BOARD[:2])).approved
    twice = _approvals(GOVERNED, NARROWED, BOARD[0]) * 2
    verdict = check(GOVERNED, NARROWED, twice)
    assert not verdict.approved
    assert verdict.refusal() == (
        "under-approved: missing 1 × role governance-board (have: board-chair)"
    )


def _tampered(approval: Approval) -> Approval:
    return replace(approval, signature=bytes([approval.signature[0] ^ 1]) + approval.signature[1:])


@pytest.mark.parametrize(
    ("approval", "reason"),
    [
        (sign(APPROVERS.key("board-chair"), content_hash(NARROWED), "sha256:" + "0" * 64), "from"),
        (
            sign(APPROVERS.key("board-chair"), content_hash(WIDENED), content_hash(GOVERNED)),
            "another set",
        ),
        (
            sign(APPROVERS.key("mallory"), content_hash(NARROWED), content_hash(GOVERNED)),
            "not an approver",
        ),
        (_tampered(_approvals(GOVERNED, NARROWED, "dpo")[0]), "does not verify"),
        # board-chair's name on the DPO's signature
        (
            replace(_approvals(GOVERNED, NARROWED, "dpo")[0], approver="board-chair"),
            "does not verify",
        ),
    ],
)
def test_an_approval_that_does_not_count_says_why(approval: Approval, reason: str) -> None:
    verdict = check(GOVERNED, NARROWED, [approval])
    assert verdict.valid == ()
    assert len(verdict.invalid) == 1
    assert reason in verdict.invalid[0][1]


def test_an_approver_without_a_key_counts_for_nothing() -> None:
    # The reference as written: nobody enrolled yet.
    old = REFERENCE
    new = _grant(old, "kba-de-address", fields=("subject_id",))
    verdict = check(old, new, _approvals(old, new, *BOARD))
    assert not verdict.approved
    assert all("no public key" in why for _, why in verdict.invalid)


def test_approvers_the_change_adds_cannot_approve_it_nor_can_it_lower_the_bar() -> None:
    assert GOVERNED.approvals is not None
    mallory = Approver(
        id="mallory",
        name="Mallory",
        roles=("governance-board",),
        public_key=APPROVERS.key("mallory").public_pem().decode(),
    )
    weaker = GOVERNED.approvals.model_copy(
        update={
            "approvers": (*GOVERNED.approvals.approvers, mallory),
            "rules": GOVERNED.approvals.rules.model_copy(
                update={"every_change": Quorum(role="governance-board", min=1)}
            ),
        }
    )
    new = _with_approvals(NARROWED, weaker)
    verdict = check(GOVERNED, new, _approvals(GOVERNED, new, "mallory", "board-chair"))
    assert not verdict.approved
    assert verdict.valid == ("board-chair",)
    assert "not an approver in the policy in force" in verdict.invalid[0][1]
    # Once in force (approved under the old rules), the weaker rule governs the next change.
    assert check(GOVERNED, new, _approvals(GOVERNED, new, *BOARD[:2])).approved
    after = _grant(new, "kba-de-address", fields=("subject_id", "new_address"))
    assert check(new, after, _approvals(new, after, "mallory")).approved is False  # consent
    assert needs(new, after).requirements[-1].count == 1  # the board now needs only one


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not an approval"),
        (b'{"approver": "a"}', "not an approval"),
        (
            b'{"approver": 1, "snapshot": "s", "parent": null, "signed_at": "t", "signature": "x"}',
            "strings",
        ),
        (
            b'{"approver": "a", "snapshot": "s", "parent": null, "signed_at": "t", "signature": "!"}',
            "base64url",
        ),
        (
            b'{"approver": "a", "snapshot": "s", "parent": null, "signed_at": "t", "signature": "AAAA"}',
            "64",
        ),
        (b'{"approver": "a", "approver": "b"}', "not JSON"),
        (b"{" + b" " * 5000 + b"}", "too large"),
    ],
)
def test_a_malformed_approval_is_a_value_error_saying_why(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_approval(data)


@given(st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
def test_no_input_makes_parsing_or_checking_an_approval_crash(data: bytes) -> None:
    try:
        approval = parse_approval(data)
    except ValueError:
        return
    check(GOVERNED, NARROWED, [approval])  # counted or not, never an exception


def test_an_approval_survives_its_file_and_broken_files_are_named(tmp_path: Path) -> None:
    approval = _approvals(GOVERNED, NARROWED, "dpo")[0]
    write_approval(tmp_path, approval)
    (tmp_path / "signatures" / "junk.json").write_bytes(b"\x00garbage")
    files = read_approvals(tmp_path)
    assert files.approvals == (approval,)
    [(path, why)] = files.unreadable
    assert path.name == "junk.json"
    assert "sign again with `bus policy sign`" in why


def _approvals_yaml(tmp_path: Path, text: str) -> Path:
    copy = tmp_path / "set"
    shutil.copytree(Path("policies/reference"), copy)
    (copy / APPROVALS_FILE).write_text(text)
    return copy


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        (
            "approvers:\n  - id: a1\n    name: A\n    public_key: |\n"
            + "".join(f"      {line}\n" for line in _ec_pem().splitlines()),
            "approvers.0.public_key",
            "Ed25519",
        ),
        ("approvers:\n  - id: a1\n    name: A\n    public_key: nonsense\n", "public_key", "PEM"),
        ("rules:\n  every_change: {role: board, min: 0}\n", "every_change.min", "or equal to 1"),
        ("rules:\n  evry_change: {role: board, min: 2}\n", "rules.evry_change", "not permitted"),
        (
            "approvers:\n  - {id: a1, name: A}\n  - {id: a1, name: B}\n",
            "approvals.yaml",
            "unique",
        ),
    ],
)
def test_a_bad_approvals_yaml_names_the_file_and_key(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    with pytest.raises(PolicyFileError) as raised:
        load_policy_set(_approvals_yaml(tmp_path, text))
    message = str(raised.value)
    assert "approvals.yaml" in message
    assert where in message
    assert says in message


def test_one_key_for_two_approvers_is_refused(tmp_path: Path) -> None:
    pem = "".join(
        f"      {line}\n" for line in APPROVERS.key("dpo").public_pem().decode().splitlines()
    )
    text = "".join(f"  - id: {i}\n    name: {i}\n    public_key: |\n{pem}" for i in ("a1", "a2"))
    with pytest.raises(PolicyFileError, match="share one public key"):
        load_policy_set(_approvals_yaml(tmp_path, "approvers:\n" + text))


def test_an_empty_approvals_yaml_has_no_rules(tmp_path: Path) -> None:
    policy = load_policy_set(_approvals_yaml(tmp_path, ""))
    assert policy.approvals == ApprovalsFile()
    assert (
        needs(policy, _grant(policy, "kba-de-address", fields=("subject_id",))).requirements == ()
    )


def test_lint_warns_of_rules_nobody_can_meet() -> None:
    assert GOVERNED.approvals is not None
    lone = tuple(a for a in GOVERNED.approvals.approvers if a.id not in BOARD[1:])
    lone = tuple(a for a in lone if a.agency != "kba-de")
    policy = _with_approvals(GOVERNED, GOVERNED.approvals.model_copy(update={"approvers": lone}))
    messages = [f.message for f in lint(policy) if f.file.endswith(APPROVALS_FILE)]
    assert messages == [
        "needs 2 approvers with role governance-board but 1 have it: the changes it governs "
        "cannot be approved",
        "no approver speaks for producer kba-de: no change releasing its data can be approved",
    ]


def _purpose(policy: PolicySet, code: str, **changes: object) -> PolicySet:
    purposes = tuple(
        p.model_copy(update=changes) if p.code == code else p for p in policy.purposes.purposes
    )
    return replace(policy, purposes=policy.purposes.model_copy(update={"purposes": purposes}))


def test_a_purpose_allowing_more_data_classes_widens_its_grants_a_new_wording_does_not() -> None:
    reworded = _purpose(GOVERNED, "vehicle-owner-address", description="Reworded")
    assert needs(GOVERNED, reworded).requirements == (BOARD_TWO,)
    wider = _purpose(
        GOVERNED,
        "vehicle-owner-address",
        data_classes=(DataClass.IDENTIFIER, DataClass.PERSONAL, DataClass.SPECIAL_CATEGORY),
    )
    owners = {("agency", m, 1) for m in MUNICIPAL}
    assert _kinds(wider) == {("role", "governance-board", 2), *owners}
