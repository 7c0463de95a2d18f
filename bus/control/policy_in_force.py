"""Which policy set is in force, given the records of the policy topic newest first.

The topic is compacted: in the end only the last record of each key survives. What is in force must
not depend on when compaction ran, so the records are read as compaction will leave them: a record
whose key occurs again later is superseded. A tombstone (null value) withdraws the set under its
key; a record that is not a valid policy set is refused (reported, never acted on). The newest
record that is neither superseded nor refused is in force: withdrawing the newest set reinstates the
one applied before it. (`bus policy apply` of another set is the normal way to change policy.)"""

from collections.abc import Callable
from dataclasses import dataclass

from bus.control.refused_records import RefusedRecord
from bus.policy.loader import PolicySet


@dataclass(frozen=True)
class Withdrawn:
    """A valid set newer than the one in force, withdrawn by a later tombstone under its key."""

    key: bytes
    offset: int
    tombstone_offset: int

    def describe(self) -> str:
        """One line for the log."""
        return (
            f"policy set {self.key.decode(errors='replace')} (offset {self.offset}) withdrawn by "
            f"the tombstone at offset {self.tombstone_offset}: the set before it is in force"
        )


@dataclass(frozen=True)
class PolicyInForce:
    """The newest valid, not withdrawn policy set on the topic (None: none, so the enforcer pauses),
    its offset, and on the way there (newest first) the records refused and the sets withdrawn."""

    policy: PolicySet | None
    offset: int | None
    refused: tuple[RefusedRecord, ...]
    withdrawn: tuple[Withdrawn, ...] = ()


class NewestInForce:
    """Offer the topic's records newest first until `offer` returns the set in force; if the oldest
    record passes without one, `none_in_force()` says so. `read` reads a record's value as a policy
    set under its key, raising ValueError if it is none; `topic` names the refused records."""

    def __init__(self, topic: str, read: Callable[[bytes | None, bytes], PolicySet]) -> None:
        self._topic, self._read = topic, read
        self._later: dict[bytes, tuple[int, bool]] = {}  # key → (offset, tombstone?) seen later
        self._refused: list[RefusedRecord] = []
        self._withdrawn: list[Withdrawn] = []

    def offer(self, offset: int, key: bytes | None, value: bytes | None) -> PolicyInForce | None:
        """The next older record; the set in force if it is this one, else None (read on)."""
        later = self._later.get(key) if key is not None else None
        if key is not None and later is None:
            self._later[key] = (offset, value is None)
        if value is None:
            return None  # a tombstone: it withdraws the older records under its key
        if later is not None and not later[1]:
            return None  # superseded by a later record under its key (refused: it was reported)
        try:
            policy_set = self._read(key, value)
        except ValueError as exc:
            if later is None:  # gone after compaction if withdrawn: nothing to report
                self._refused.append(RefusedRecord(self._topic, offset, key, str(exc)))
            return None
        if key is not None and later is not None:
            self._withdrawn.append(Withdrawn(key, offset, later[0]))
            return None
        return PolicyInForce(policy_set, offset, tuple(self._refused), tuple(self._withdrawn))

    def none_in_force(self) -> PolicyInForce:
        """The answer once every record was offered and none is in force."""
        return PolicyInForce(None, None, tuple(self._refused), tuple(self._withdrawn))
