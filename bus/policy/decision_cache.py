"""`decide` remembered: events of one kind (type, producer, fields, places, block) get, per
subscription, the decision taken for the first of them while no grant bound is crossed.

`decide` depends on the time only through the validity bounds of the consumer's grants for the
event type, so a decision stays right from the last bound at or before its time to the next bound
after it. A cache belongs to one snapshot (EnforcerState makes a new one with each state), so a
policy change never meets an old entry.
"""

import bisect
import math
from collections.abc import Hashable

from bus.policy.decision import Decision
from bus.policy.engine import decide
from bus.policy.facts import EventFacts, Subscription
from bus.policy.snapshot import Snapshot

# Kinds of events × subscriptions remembered; beyond it the cache starts over (a flood of distinct
# places costs a decide() each, never memory).
MAX_ENTRIES = 100_000


class DecisionCache:
    """Decisions by event kind × subscription, each with the time span it holds for."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[Decision, float, float]] = {}
        self._bounds: dict[tuple[str, str], list[float]] = {}
        self.hits = 0  # decisions answered from the cache

    def decide(
        self,
        snapshot: Snapshot,
        facts: EventFacts,
        subscription: Subscription,
        at: float,
        *,
        has_interest: bool = False,
    ) -> Decision:
        """Exactly `decide(snapshot, facts, subscription, at, has_interest=…)`; `snapshot` must be
        the same one on every call."""
        key = (
            subscription,
            has_interest,
            facts.event_type,
            facts.producer,
            facts.fields,
            tuple(facts.locations.items()),
            facts.disclosure_blocked,
        )
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= at < entry[2]:
            self.hits += 1
            return entry[0]
        decision = decide(snapshot, facts, subscription, at, has_interest=has_interest)
        bounds = self._grant_bounds(snapshot, subscription.consumer, facts.event_type)
        i = bisect.bisect_right(bounds, at)  # bounds[i-1] <= at < bounds[i]
        since = bounds[i - 1] if i else -math.inf
        until = bounds[i] if i < len(bounds) else math.inf
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (decision, since, until)
        return decision

    def _grant_bounds(self, snapshot: Snapshot, consumer: str, event_type: str) -> list[float]:
        """The moments at which a decision for `consumer` on `event_type` may change, sorted."""
        bounds = self._bounds.get((consumer, event_type))
        if bounds is None:
            moments = set()
            for grant in snapshot.grants.get((consumer, event_type), ()):
                moments.add(grant.valid_from)
                if grant.valid_until is not None:
                    moments.add(grant.valid_until)
            bounds = self._bounds[(consumer, event_type)] = sorted(moments)
        return bounds
