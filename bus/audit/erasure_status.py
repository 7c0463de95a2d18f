"""Whether an agency's copy of a delivery is due to be erased, and whether it was: for the
data-subject report.

The deadline is derived from the PERMIT decision itself (its `decided_at` plus the retention_days
its policy snapshot gave the purpose), the same computation by which the enforcer stamped the
delivery's `bus_erase_by`, so it needs no change of the audit record or its chain. Whether it was
erased comes from the agency's own erasure records (bus/audit/store/erasures.py), matched on the
agency, source, event id and purpose of the decision: an agency can only speak for its own copies.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bus.audit.store.audit_store import AuditStore
from bus.audit.store.rows import StoredDecision
from bus.envelope.attributes import parse_time
from bus.record.erase_by import erase_by_text

_Key = tuple[str | None, str | None, str | None, str | None]  # consumer, source, event id, purpose


class ErasureState(StrEnum):
    """Where an agency's copy stands against its deadline."""

    ERASED = "erased"  # the agency reported it erased
    DUE = "due"  # the deadline has not come yet
    OVERDUE = "overdue"  # the deadline has passed and no erasure was reported
    UNKNOWN = "unknown"  # the decision's policy snapshot is not in the store


@dataclass(frozen=True, slots=True)
class Erasure:
    """A receipt's deadline (RFC 3339, None if unknown), when it was reported erased, its state."""

    erase_by: str | None
    erased_at: str | None
    state: ErasureState


class ErasureLookup:
    """The erasure state of each of `decisions` (PERMITs), read with one query for the erasure
    records and one per policy snapshot.

    Parameters:
        store: the audit store.
        decisions: the decisions whose state is asked for.
        now: the time deadlines are held against.
    """

    def __init__(self, store: AuditStore, decisions: Sequence[StoredDecision], now: datetime):
        self._store, self._now = store, now
        self._retention: dict[str, dict[str, int]] = {}  # snapshot hash -> purpose -> days
        ids = [d.columns.event_id for d in decisions if d.columns.event_id]
        self._erased: dict[_Key, str] = {
            (e.consumer, e.record.source, e.record.event_id, e.record.purpose): e.record.erased_at
            for e in store.erasures_of(ids)
        }

    def of(self, decision: StoredDecision) -> Erasure:
        """The erasure state of one PERMIT decision."""
        c = decision.columns
        erase_by = self._deadline(c.snapshot_hash, c.purpose, c.decided_at)
        erased_at = self._erased.get((c.consumer, c.producer, c.event_id, c.purpose))
        if erased_at is not None:
            return Erasure(erase_by, erased_at, ErasureState.ERASED)
        if erase_by is None:
            return Erasure(None, None, ErasureState.UNKNOWN)
        due = parse_time(erase_by) > self._now
        return Erasure(erase_by, None, ErasureState.DUE if due else ErasureState.OVERDUE)

    def _deadline(self, snapshot: str | None, purpose: str | None, at: str | None) -> str | None:
        if snapshot is None or purpose is None or at is None:
            return None
        if snapshot not in self._retention:
            self._retention[snapshot] = _retention_days(self._store.snapshot_document(snapshot))
        days = self._retention[snapshot].get(purpose)
        return None if days is None else erase_by_text(parse_time(at), days)


def _retention_days(document: bytes | None) -> dict[str, int]:
    """Each purpose's retention_days in a stored policy snapshot ({} if there is none)."""
    if document is None:
        return {}
    purposes = json.loads(document).get("purposes", [])
    return {p["code"]: int(p["retention_days"]) for p in purposes}
