"""The events accepted from one input partition, by (source, event id), so that a republication of
the same event is refused as DUPLICATE_EVENT instead of being delivered twice.

Bounded: the newest `capacity` ids per partition are kept, older ones forgotten. Each id is kept
as a 64-bit keyed hash (BLAKE2b under a random key per process, never stored: a sender cannot
aim two ids at one hash) with the input offset it was accepted at; a ring of the hashes in arrival
order says which to forget. The offset tells a replay of the same record (after a crash) from a
republication. Collisions by chance remain: among 100,000 ids about 3 in 10^10 partitions hold
one, and then the later event is quarantined as DUPLICATE_EVENT (refused, not lost).
"""

import hashlib
import secrets
from array import array
from dataclasses import dataclass, field


class SeenEvents:
    """The accepted events of one input partition (see above).

    Parameters:
        capacity: how many ids are kept; the oldest is forgotten when a new one comes.
        key: the hash key; a random one if None (tests pass their own).
    """

    def __init__(self, capacity: int, key: bytes | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        # Keyed once; each fingerprint copies the keyed state (cheaper than keying anew per id).
        self._hasher = hashlib.blake2b(
            digest_size=8, key=key if key is not None else secrets.token_bytes(16)
        )
        self._offsets: dict[int, int] = {}
        self._ring = array("Q")
        self._oldest = 0  # ring slot overwritten next once the ring is full

    def __len__(self) -> int:
        return len(self._offsets)

    def fingerprint(self, source: str, event_id: str) -> int:
        """The 64-bit keyed hash the event is remembered by."""
        # Length-prefixed: no (source, id) pair can be spelled as another. surrogatepass: a JSON
        # string may hold a lone surrogate, which must hash, not raise.
        hasher = self._hasher.copy()
        hasher.update(f"{len(source)}:{source}{event_id}".encode("utf-8", "surrogatepass"))
        return int.from_bytes(hasher.digest(), "big")

    def accepted_at(self, fingerprint: int) -> int | None:
        """The input offset the event was accepted at, or None if it is not (or no longer) known."""
        return self._offsets.get(fingerprint)

    def add(self, fingerprint: int, offset: int) -> None:
        """Remember the event accepted at input `offset` (a known one keeps its first offset),
        forgetting the oldest one when full."""
        if fingerprint in self._offsets:
            return  # the first acceptance is the one that counts
        if len(self._ring) < self._capacity:
            self._ring.append(fingerprint)
        else:
            del self._offsets[self._ring[self._oldest]]
            self._ring[self._oldest] = fingerprint
            self._oldest = (self._oldest + 1) % self._capacity
        self._offsets[fingerprint] = offset

    def batch(self) -> "SeenInBatch":
        """A view for one transaction, whose acceptances join this memory on `commit`."""
        return SeenInBatch(self)


@dataclass
class SeenInBatch:
    """The acceptances of one transaction: they count for later records of the same batch at once,
    but join the partition's memory only when the transaction commits (an aborted batch is read
    again and must not find itself there)."""

    seen: SeenEvents
    accepted: dict[int, int] = field(default_factory=dict)  # fingerprint → offset, in order
    entries: list[tuple[str, str, int]] = field(default_factory=list)

    def earlier_acceptance(self, source: str, event_id: str, offset: int) -> int | None:
        """The offset of an earlier, different record that was accepted with this (source, id);
        None if there is none, in which case this record counts as accepted from now on."""
        fingerprint = self.seen.fingerprint(source, event_id)
        earlier = self.seen.accepted_at(fingerprint)
        if earlier is None:
            earlier = self.accepted.get(fingerprint)
        if earlier is not None and earlier != offset:
            return earlier
        if earlier is None:
            self.accepted[fingerprint] = offset
            self.entries.append((source, event_id, offset))
        return None

    def commit(self) -> None:
        """The transaction committed: its acceptances join the partition's memory."""
        for fingerprint, offset in self.accepted.items():
            self.seen.add(fingerprint, offset)
