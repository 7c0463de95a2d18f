"""A receipt's erasure state in the data-subject report: the deadline from the decision's time
and its snapshot's retention, erased only by the receiving agency's own record of that very
delivery, due or overdue by the report's time, unknown without the snapshot."""

import json
from datetime import timedelta
from pathlib import Path

from bus.audit.store import SourceRecord, open_store
from bus.audit.store.audit_store import AuditStore
from bus.audit.store.erasures import StoredErasure
from bus.audit.subject_report import subject_report
from bus.envelope.attributes import format_time
from bus.record.audit_record import AUDIT_AUDIENCE
from bus.record.erase_by import erase_by_text
from bus.record.erasure_record import ErasureRecord
from tests.support.audit_records import PSEUDONYMS, START, audit_document, person

SNAPSHOT = "sha256:" + "cd" * 32
POLICY = json.dumps({"purposes": [{"code": "purpose-tax-by", "retention_days": 30}]}).encode()
# Decisions 1 and 2 are PERMITs for tax-by and kba-de about person 0 (audit_document's mix).
DEADLINE = erase_by_text(START + timedelta(seconds=1), 30)


def store_with_two_receipts(tmp_path: Path, snapshot: bool = True) -> AuditStore:
    store = open_store(str(tmp_path / "audit.db"))
    documents = [
        audit_document(i, people=1, consumer=c, purpose=f"purpose-{c}", snapshot_hash=SNAPSHOT)
        for i, c in ((1, "tax-by"), (2, "kba-de"))
    ]
    records = [
        SourceRecord("bus.audit", 0, n, json.dumps(d).encode()) for n, d in enumerate(documents)
    ]
    store.append(records, START, snapshots=[(SNAPSHOT, POLICY)] if snapshot else [])
    return store


def erasure(agency: str, event: int, purpose: str = "purpose-tax-by") -> StoredErasure:
    document = audit_document(event)
    record = ErasureRecord(
        source=document["producer"],
        event_id=document["event_id"],
        purpose=purpose,
        event_type=document["event_type"],
        erase_by=DEADLINE,
        erased_at=format_time(START + timedelta(days=31)),
    )
    return StoredErasure(agency, record)


def states(store: AuditStore, days: int) -> dict[str | None, tuple[str, str | None]]:
    pseudonym = PSEUDONYMS.pseudonym(AUDIT_AUDIENCE, person(0))
    report = subject_report(store, pseudonym, START + timedelta(days=days))
    return {r.agency: (r.erasure, r.erase_by) for r in report.received}


def test_due_then_overdue_then_erased_by_the_agencys_own_record(tmp_path: Path) -> None:
    store = store_with_two_receipts(tmp_path)
    assert states(store, 29)["tax-by"] == ("due", DEADLINE)
    assert states(store, 31)["tax-by"] == ("overdue", DEADLINE)
    # kba-de's purpose is not in the snapshot: its deadline is unknown, never made up.
    assert states(store, 31)["kba-de"] == ("unknown", None)

    # Claims that do not answer tax-by's delivery: another agency's, another purpose's.
    store.append_erasures([erasure("kba-de", 1), erasure("tax-by", 1, "other")], {})
    assert states(store, 31)["tax-by"] == ("overdue", DEADLINE)
    store.append_erasures([erasure("tax-by", 1)], {})
    assert states(store, 31)["tax-by"] == ("erased", DEADLINE)
    report = subject_report(store, PSEUDONYMS.pseudonym(AUDIT_AUDIENCE, person(0)), START)
    erased = report.to_json()["received"][0]
    assert (erased["erasure"], erased["erased_at"]) == ("erased", "2026-12-02T00:00:00.000000Z")


def test_without_the_policy_snapshot_every_deadline_is_unknown(tmp_path: Path) -> None:
    store = store_with_two_receipts(tmp_path, snapshot=False)
    assert set(states(store, 31).values()) == {("unknown", None)}
