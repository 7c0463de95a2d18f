"""Replay: a decision re-decided under the snapshot its audit record names comes out the same;
under another policy, or from an altered record, it does not; without the snapshot it says so."""

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from bus.audit.replay import ReplayStatus, replay
from bus.audit.store import AuditStore, DecisionFilter, SourceRecord, open_store
from bus.enforcer.pipeline import recorded_facts
from bus.policy.engine import decide
from bus.policy.facts import Subscription, facts_of
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import canonical_bytes, compile_snapshot
from bus.record.audit_record import (
    AuditRecord,
    InputPosition,
    RecordedOutcome,
    decision_time,
)
from tests.support.events import address_changed

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def recorded(
    store: AuditStore, consumer: str, purpose: str, *, has_interest: bool = False, **changes: object
) -> int:
    """Decide one event as the enforcer does (the consumer holding an interest marker on the
    person if `has_interest`) and store its audit record; returns its id."""
    policy_set = load_policy_set(REFERENCE)
    snapshot = compile_snapshot(policy_set)
    store.append([], AT, snapshots=[(snapshot.hash, canonical_bytes(policy_set))])
    facts = facts_of(address_changed(), "muni-09162000")
    subscription = Subscription(consumer, facts.event_type, purpose)
    decision = decide(snapshot, facts, subscription, AT.timestamp(), has_interest=has_interest)
    entry = AuditRecord(
        event_id="e-1",
        event_type=facts.event_type,
        producer=facts.producer,
        consumer=consumer,
        purpose=purpose,
        legal_basis=decision.legal_basis,
        outcome=RecordedOutcome.of(decision.outcome),
        reasons=tuple(r.value for r in decision.reasons),
        released_fields=decision.released_fields,
        grant_id=decision.grant_id,
        snapshot_hash=decision.snapshot_hash,
        decided_at=decision_time(AT),
        subject_pseudonym="psn-x",
        input=InputPosition("bus.ingress", 0, 0),
        claimed_event_id=None,
        facts=recorded_facts(facts),
    )
    entry = msgspec.structs.replace(entry, **changes)
    seq = store.count() + 1
    store.append([SourceRecord("bus.audit", 0, seq, entry.to_json_bytes())], AT)
    return seq


def test_a_recorded_permit_and_deny_replay_the_same(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    permit = store.get(recorded(store, "tax-by", "tax-residence"))
    deny = store.get(recorded(store, "kba-de", "electoral-register"))
    assert permit is not None
    assert deny is not None
    assert permit.columns.outcome == "PERMIT"
    assert deny.columns.outcome == "DENY"
    for decision in (permit, deny):
        result = replay(store, decision)
        assert result.status is ReplayStatus.MATCH, result.detail


def test_a_decision_on_a_grant_that_requires_interest_replays_from_its_record(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    marked = store.get(recorded(store, "benefits-de", "benefits-entitlement", has_interest=True))
    unmarked = store.get(recorded(store, "benefits-de", "benefits-entitlement"))
    assert marked is not None
    assert unmarked is not None
    assert (marked.columns.outcome, marked.columns.reasons) == ("PERMIT", " GRANTED INTEREST_HELD ")
    assert (unmarked.columns.outcome, unmarked.columns.reasons) == ("DENY", " NO_INTEREST ")
    for decision in (marked, unmarked):
        result = replay(store, decision)
        assert result.status is ReplayStatus.MATCH, result.detail
    # The marker's record is no policy decision: it says so instead of re-deciding it.
    change = store.get(
        recorded(
            store,
            "benefits-de",
            "benefits-entitlement",
            outcome=RecordedOutcome.INTEREST_ADDED,
            reasons=("INTEREST_ADDED",),
        )
    )
    assert change is not None
    assert replay(store, change).status is ReplayStatus.NOT_REPLAYABLE


def test_an_altered_record_does_not_replay_the_same(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    seq = recorded(
        store, "tax-by", "tax-residence", released_fields=("subject_id", "date_of_birth")
    )
    [decision] = store.find(DecisionFilter(), limit=1)
    assert decision.seq == seq
    result = replay(store, decision)
    assert result.status is ReplayStatus.MISMATCH
    assert "date_of_birth" in result.detail


def test_without_the_snapshot_replay_says_why(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    recorded(store, "tax-by", "tax-residence", snapshot_hash="sha256:" + "0" * 64)
    [decision] = store.find(DecisionFilter(), limit=1)
    result = replay(store, decision)
    assert result.status is ReplayStatus.NOT_REPLAYABLE
    assert "not in the store" in result.detail
