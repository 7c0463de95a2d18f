"""The API's integrity status: a recent verification is reused, an old one is redone, and `fresh`
always verifies again (on a real SQLite store)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bus.audit.api.integrity_watch import IntegrityWatch
from bus.audit.audit_key import AuditKeyFiles, ensure_audit_key, load_audit_public_key
from bus.audit.store import open_store
from bus.audit.store.audit_store import Checkpointing
from tests.support.audit_records import source_records

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_recent_verification_is_reused_and_an_old_one_redone(tmp_path: Path) -> None:
    files = AuditKeyFiles.in_directory(tmp_path / "keys")
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    now = [START]
    try:
        store.append(source_records(50), START, Checkpointing(ensure_audit_key(files), 10))
        watch = IntegrityWatch(
            store, load_audit_public_key(files), lambda: now[0], max_age=timedelta(minutes=5)
        )
        first = watch.status()
        assert (first.number, first.at, first.report.records) == (1, START, 50)
        now[0] = START + timedelta(minutes=4)
        assert watch.status() is first
        assert watch.status(fresh=True).number == 2
        store.append(source_records(5, first=50), now[0])
        now[0] = START + timedelta(minutes=10)
        third = watch.status()
        assert (third.number, third.at, third.report.records) == (3, now[0], 55)
    finally:
        store.close()
