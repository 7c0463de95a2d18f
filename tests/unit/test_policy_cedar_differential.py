"""Differential test: our engine and Cedar (cedarpy) decide the same random requests alike.

Random policy sets (fixed seeds, so a failure reproduces) are exported to Cedar; every request goes
to `bus.policy.engine.decide` and to Cedar's batch API, and PERMIT/DENY must agree on every one.
"""

import json
import random
from collections import Counter
from pathlib import Path

import cedarpy
import pytest

from bus.policy.cedar_export import (
    cedar_request,
    export_cedar,
    merged_entities,
    write_export,
)
from bus.policy.engine import decide
from bus.policy.errors import PolicyError
from bus.policy.loader import PolicySet, load_policy_set
from bus.policy.snapshot import compile_snapshot
from tests.support.policy_generators import (
    Request,
    random_grant,
    random_policy_set,
    random_requests,
    replace_grants,
)

SEEDS = range(8)
REQUESTS_PER_SET = 1_300  # 8 x 1,300 = 10,400 requests
REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"


def _compare(policy_set: PolicySet, requests: list[Request], label: str) -> Counter[str]:
    """Decide every request both ways; fail on the first disagreement or any Cedar error."""
    export = export_cedar(policy_set)
    validation = cedarpy.validate_policies(export.policies, export.schema)
    assert validation.validation_passed, [str(e) for e in validation.errors]
    snapshot = compile_snapshot(policy_set)
    cedar_requests = [cedar_request(r.facts, r.subscription, r.at) for r in requests]
    results = cedarpy.is_authorized_batch(
        [c.as_dict() for c in cedar_requests],
        cedarpy.PolicySet.from_str(export.policies),
        merged_entities(export, cedar_requests),
    )
    mix: Counter[str] = Counter()
    for request, cedar_call, result in zip(requests, cedar_requests, results, strict=True):
        ours = decide(snapshot, request.facts, request.subscription, request.at)
        assert not result.diagnostics.errors, f"{label}: Cedar error {result.diagnostics.errors}"
        assert ours.permitted == result.allowed, (
            f"{label}: engine {ours.outcome} {[r.value for r in ours.reasons]} "
            f"(grant {ours.grant_id}), Cedar {result.decision} "
            f"{result.diagnostics.reasons}\nrequest: {request}\ncedar: {cedar_call}"
        )
        mix["PERMIT" if ours.permitted else "DENY"] += 1
        mix.update(f"reason {r.value}" for r in ours.reasons if not ours.permitted)
    return mix


def test_cedar_and_engine_agree_on_random_policy_sets() -> None:
    mix: Counter[str] = Counter()
    for seed in SEEDS:
        # Even seeds: grant bounds with microseconds, whole-second times; odd seeds the reverse.
        rng = random.Random(seed)
        policy_set = random_policy_set(rng, fractional=seed % 2 == 0)
        requests = random_requests(rng, policy_set, REQUESTS_PER_SET, fractional=seed % 2 == 1)
        mix += _compare(policy_set, requests, f"seed {seed}")
    total = mix["PERMIT"] + mix["DENY"]
    print(f"\n{total} requests: {dict(sorted(mix.items()))}")
    assert total >= 10_000
    assert mix["PERMIT"] >= 0.05 * total
    assert mix["DENY"] >= 0.05 * total
    # Every way to be denied was exercised, so agreement covers each condition of the grant.
    for reason in ("NO_GRANT", "PURPOSE_MISMATCH", "OUT_OF_JURISDICTION", "NOT_COMPETENT"):
        assert mix[f"reason {reason}"] > 0, reason
    for reason in ("GRANT_NOT_YET_VALID", "GRANT_EXPIRED", "DISCLOSURE_BLOCKED"):
        assert mix[f"reason {reason}"] > 0, reason
    for reason in ("UNKNOWN_CONSUMER", "UNKNOWN_PURPOSE"):
        assert mix[f"reason {reason}"] > 0, reason


def test_cedar_and_engine_agree_on_many_grants_per_consumer() -> None:
    """Few agencies and many grants: several grants compete for one request."""
    rng = random.Random(100)
    policy_set = random_policy_set(rng, agencies=3, purposes=2, grants=120)
    mix = _compare(policy_set, random_requests(rng, policy_set, 1_000), "crowded")
    assert mix["PERMIT"] > 0
    assert mix["DENY"] > 0


def test_cedar_and_engine_agree_on_the_reference_policy_set() -> None:
    policy_set = load_policy_set(REFERENCE)
    compile_snapshot(policy_set)
    rng = random.Random(7)
    mix = _compare(policy_set, random_requests(rng, policy_set, 5_000), "reference")
    print(f"\nreference set: {dict(sorted(mix.items()))}")
    assert mix["PERMIT"] > 0
    assert mix["DENY"] > 0


def test_export_refuses_dangling_references() -> None:
    rng = random.Random(3)
    policy_set = random_policy_set(rng, grants=0)
    dangling = random_grant(
        rng, "grant-x", policy_set.agencies.agencies, policy_set.purposes.purposes
    ).model_copy(update={"purpose": "no-such-purpose"})
    with pytest.raises(PolicyError, match="unknown purpose no-such-purpose"):
        export_cedar(replace_grants(policy_set, (dangling,)))


def test_export_quotes_odd_event_type_names(tmp_path: Path) -> None:
    """A grant's event types are free text: quotes, backslashes, newlines, non-ASCII stay literal."""
    rng = random.Random(4)
    policy_set = random_policy_set(rng, grants=0)
    odd = 'odd."type"\\ü\n'
    agencies, purposes = policy_set.agencies.agencies, policy_set.purposes.purposes
    grants = tuple(
        random_grant(rng, f"grant-{i}", agencies, purposes, event_types=(odd,)) for i in range(20)
    )
    policy_set = replace_grants(policy_set, grants)
    mix = _compare(policy_set, random_requests(rng, policy_set, 500), "odd event type")
    assert mix["PERMIT"] > 0
    export = export_cedar(policy_set)
    written = write_export(export, tmp_path / "cedar")
    assert [p.name for p in written] == ["policies.cedar", "entities.json", "schema.cedarschema"]
    assert (tmp_path / "cedar" / "policies.cedar").read_text(encoding="utf-8") == export.policies
    entities = json.loads((tmp_path / "cedar" / "entities.json").read_text(encoding="utf-8"))
    assert entities == export.entities
