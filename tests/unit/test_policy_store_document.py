"""The published form of a policy set reads back to the same set: same content hash, same decisions."""

import json
from pathlib import Path

from bus.control.policy_store import from_document
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import canonical_bytes, compile_snapshot

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"


def test_published_document_round_trips_to_the_same_snapshot() -> None:
    policy_set = load_policy_set(REFERENCE)
    restored = from_document(json.loads(canonical_bytes(policy_set)))
    assert compile_snapshot(restored).hash == compile_snapshot(policy_set).hash
    for name in ("territories", "agencies", "purposes", "producers", "grants"):
        assert len(getattr(getattr(restored, name), name)) == len(
            getattr(getattr(policy_set, name), name)
        )
