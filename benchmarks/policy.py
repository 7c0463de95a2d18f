"""Policy benchmark: µs per decision, p50 and p99, of our engine and of Cedar on the same requests.

    .venv/bin/python -m benchmarks.policy [--requests 20000] [--cedar-large 300]

Every decision is timed on its own (perf_counter_ns) after a warm-up. Cedar (cedarpy: Rust behind
Python bindings) gets the same policy set through bus.policy.cedar_export and the same requests, per
call (`is_authorized`) and in batches (`is_authorized_batch`; µs = batch time / batch size, p50 and
p99 over batches). Cedar has no index and evaluates every policy, so at 10,000 grants it is timed on
fewer requests (--cedar-large) to finish in minutes.
Targets: our p99 ≤ 10 µs; ≥ 10× faster than cedarpy; flat in grants that do not concern the event
type (p50 with 10,000 such grants ≤ 1.5 × p50 with none).
"""

import argparse
import json
import os
import random
import statistics
import time
from dataclasses import dataclass

import cedarpy

from bus.policy.cedar_export import cedar_request, export_cedar, merged_entities
from bus.policy.decision import Decision, Outcome, Reason
from bus.policy.engine import decide
from bus.policy.loader import PolicySet
from bus.policy.snapshot import Snapshot, compile_snapshot
from tests.support.policy_generators import (
    Request,
    random_agency,
    random_grant,
    random_policy_set,
    random_requests,
)

BATCH = 100
OTHER_TYPES = tuple(f"other.Event{i}" for i in range(50))  # no request is about these


@dataclass(frozen=True)
class Row:
    scenario: str
    engine: str
    n: int
    p50: float  # µs
    p99: float
    mean: float


def row(scenario: str, engine: str, nanoseconds: list[float]) -> Row:
    ordered = sorted(nanoseconds)
    p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
    return Row(
        scenario, engine, len(ordered), p50 / 1e3, p99 / 1e3, statistics.fmean(ordered) / 1e3
    )


def time_ours(snapshot: Snapshot, requests: list[Request]) -> list[float]:
    for r in requests[:2_000]:  # warm-up
        decide(snapshot, r.facts, r.subscription, r.at)
    samples: list[float] = []
    clock = time.perf_counter_ns
    for r in requests:
        start = clock()
        decide(snapshot, r.facts, r.subscription, r.at)
        samples.append(clock() - start)
    return samples


def time_result_only(count: int) -> list[float]:
    """Constructing the Decision a deny returns, and nothing else: the floor under `decide`."""
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        Decision(Outcome.DENY, (Reason.NO_GRANT,), "c", "t", "p", "h", grant_id=None, producer="x")
        samples.append(clock() - start)
    return samples


def time_cedar(
    policy_set: PolicySet, requests: list[Request], scenario: str, check: Snapshot
) -> list[Row]:
    """Per call and in batches; also checks that Cedar and our engine agree on every request."""
    export = export_cedar(policy_set)
    calls = [cedar_request(r.facts, r.subscription, r.at) for r in requests]
    policies = cedarpy.PolicySet.from_str(export.policies)
    entities = cedarpy.Entities.from_json_str(json.dumps(merged_entities(export, calls)))
    dicts = [c.as_dict() for c in calls]
    for d in dicts[:20]:  # warm-up
        cedarpy.is_authorized(d, policies, entities)
    per_call: list[float] = []
    clock = time.perf_counter_ns
    for d, r in zip(dicts, requests, strict=True):
        start = clock()
        result = cedarpy.is_authorized(d, policies, entities)
        per_call.append(clock() - start)
        assert result.allowed == decide(check, r.facts, r.subscription, r.at).permitted, r
    size = min(BATCH, max(1, len(dicts) // 10))  # at least 10 batches for the percentiles
    per_batch: list[float] = []
    for first in range(0, len(dicts) - size + 1, size):
        start = clock()
        cedarpy.is_authorized_batch(dicts[first : first + size], policies, entities)
        per_batch.append((clock() - start) / size)
    return [
        row(scenario, "cedarpy per call", per_call),
        row(scenario, f"cedarpy batch of {size}", per_batch),
    ]


def by_size(grants: int, requests: int, cedar_requests: int) -> list[Row]:
    """Agencies grow with the grants (10 grants each), as they would in a real federation."""
    rng = random.Random(grants)
    policy_set = random_policy_set(rng, agencies=max(10, grants // 10), purposes=12, grants=grants)
    snapshot = compile_snapshot(policy_set)
    sample = random_requests(rng, policy_set, requests)
    pairs = len(snapshot.grants)
    scenario = f"{grants:,} grants ({sum(map(len, snapshot.grants.values())) / pairs:.1f}/pair)"
    rows = [row(scenario, "ours", time_ours(snapshot, sample))]
    return rows + time_cedar(policy_set, sample[:cedar_requests], scenario, snapshot)


def flat(requests: int, irrelevant: int) -> list[Row]:
    """100 grants the requests are about, plus grants for other consumers and other event types."""
    rng = random.Random(42)
    base = random_policy_set(rng, agencies=10, purposes=12, grants=100)
    sample = random_requests(rng, base, requests)
    territories = base.territories.territories
    others = tuple(random_agency(rng, f"other-{i}", territories) for i in range(500))
    agencies, purposes = base.agencies.agencies, base.purposes.purposes
    extra = [  # half: other consumers, any event type; half: these consumers, other event types
        random_grant(rng, f"other-grant-{i}", others, purposes)
        if i % 2
        else random_grant(rng, f"other-grant-{i}", agencies, purposes, event_types=OTHER_TYPES)
        for i in range(irrelevant)
    ]
    big = PolicySet(
        base.directory,
        base.territories,
        base.agencies.model_copy(update={"agencies": agencies + others}),
        base.purposes,
        base.producers,
        base.grants.model_copy(update={"grants": base.grants.grants + tuple(extra)}),
    )
    small_snapshot, big_snapshot = compile_snapshot(base), compile_snapshot(big)
    small: list[float] = []
    large: list[float] = []
    for first in range(0, len(sample), len(sample) // 4):  # interleaved, so noise hits both
        chunk = sample[first : first + len(sample) // 4]
        small += time_ours(small_snapshot, chunk)
        large += time_ours(big_snapshot, chunk)
    return [
        row("flat: 100 relevant + 0 irrelevant", "ours", small),
        row(f"flat: 100 relevant + {irrelevant:,} irrelevant", "ours", large),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per scenario")
    parser.add_argument("--cedar-large", type=int, default=300, help="Cedar at 10,000 grants")
    args = parser.parse_args()
    began = time.perf_counter()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    small = by_size(100, args.requests, args.requests)
    large = by_size(10_000, args.requests, args.cedar_large)
    flatness = flat(args.requests, 10_000)
    floor = row(
        "baseline: a Decision object only", "(no decision)", time_result_only(args.requests)
    )
    print(f"\n{'scenario':42} {'engine':22} {'n':>6} {'p50 µs':>10} {'p99 µs':>10} {'mean µs':>10}")
    for r in [*small, *large, *flatness, floor]:
        print(f"{r.scenario:42} {r.engine:22} {r.n:6} {r.p50:10.1f} {r.p99:10.1f} {r.mean:10.1f}")
    print("\nratios cedarpy / ours")
    fast = True
    for rows in (small, large):
        ours = rows[0]
        for other in rows[1:]:
            p50, p99 = other.p50 / ours.p50, other.p99 / ours.p99
            fast &= p50 >= 10
            print(f"  {ours.scenario:36} {other.engine:20} p50 {p50:9.1f}×   p99 {p99:9.1f}×")
    worst_p99 = max(r.p99 for r in (small[0], large[0], *flatness))
    spread = flatness[1].p50 / flatness[0].p50
    print("\ntargets")
    print(f"  our p99 ≤ 10 µs:           {_verdict(worst_p99 <= 10)} (worst {worst_p99:.1f} µs)")
    print(f"  ≥ 10× faster than cedarpy: {_verdict(fast)} (p50, per call and batch)")
    print(f"  flat in irrelevant grants: {_verdict(spread <= 1.5)} (p50 ratio {spread:.2f})")
    print(f"\n({time.perf_counter() - began:.0f} s)")


def _verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"


if __name__ == "__main__":
    main()
