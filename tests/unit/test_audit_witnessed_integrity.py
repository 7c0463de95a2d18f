"""The API's integrity status checks the store against the witness as `bus audit verify` does:
what the witness holds and the store lost is named, and a witness that cannot be read is a
finding, never an "intact" (real SQLite store, real signatures)."""

from datetime import UTC, datetime
from pathlib import Path

from bus.audit.api.integrity_watch import IntegrityWatch
from bus.audit.audit_key import AuditKeyFiles, ensure_audit_key, load_audit_public_key
from bus.audit.store import open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.verify import Tampering
from bus.audit.witness import Witness
from bus.errors import BrokerError
from tests.support.audit_records import source_records


def test_the_api_names_what_the_witness_holds_and_the_store_lost(tmp_path: Path) -> None:
    files = AuditKeyFiles.in_directory(tmp_path / "keys")
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        now = datetime.now(UTC)
        store.append(source_records(50), now, Checkpointing(ensure_audit_key(files), 10))
        published = Witness("bus.audit.checkpoints", store.checkpoints())
        public = load_audit_public_key(files)
        witnessed = IntegrityWatch(store, public, lambda: now, witness=lambda: published)
        assert witnessed.status().report.intact
        assert witnessed.status().report.witnessed == 5

        store.backend.execute("DELETE FROM decisions WHERE seq > 40")
        store.backend.execute("DELETE FROM checkpoints WHERE seq > 40")
        alone = IntegrityWatch(store, public, lambda: now).status(fresh=True).report
        assert alone.intact  # what the store's own checks cannot see
        report = witnessed.status(fresh=True).report
        assert report.finding is not None
        assert (report.finding.kind, report.finding.seq) == (Tampering.TRUNCATED, 41)

        def unreachable() -> Witness:
            raise BrokerError("cannot read the witness topic bus.audit.checkpoints: broker away")

        blind = IntegrityWatch(store, public, lambda: now, witness=unreachable).status().report
        assert blind.finding is not None
        assert blind.finding.kind is Tampering.WITNESS_UNAVAILABLE
        assert "broker away" in blind.finding.message
    finally:
        store.close()
