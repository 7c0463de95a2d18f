"""Does a DPO's search time tell how many hidden decisions a person has? On SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.audit_dpo_timing [--hidden 30000] [--stores sqlite,postgresql]

A store holds `--hidden` decisions about one person that tax-by's data-protection officer may
not see (half of them denials to tax-by itself, half other parties' denials of tax-by's own
events), next to 20,000 ordinary decisions. Timed alone after a warm-up: tax-by's DPO searching
that person (`POST /decisions/search`'s query: one page of 100) and its subject report, against
the same for a person the store has never seen (the baseline, same run, same store). A ratio
near 1 means the answer time does not count what the DPO may not see.
"""

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.audit_store import stores
from bus.audit.query import DecisionQuery
from bus.audit.store import AuditStore, SourceRecord, open_store
from bus.audit.subject_report import subject_report
from bus.record.audit_record import AUDIT_AUDIENCE
from tests.support.audit_records import PSEUDONYMS, audit_document, source_records

NOW = datetime(2026, 11, 23, tzinfo=UTC)
RUNS = 200
HEAVY, NOBODY = "HEAVY-1", "NOBODY-2"


def fill(store: AuditStore, hidden: int) -> None:
    store.append(source_records(20_000, people=5_000), NOW)
    pseudonym = PSEUDONYMS.pseudonym(AUDIT_AUDIENCE, HEAVY)
    records = []
    for i in range(hidden):
        document = audit_document(i, people=1)
        mine = i % 2 == 0  # a denial to tax-by, or another party's denial of tax-by's event
        document.update(
            consumer="tax-by" if mine else "kba-de",
            producer="muni-x" if mine else "tax-by",
            outcome="DENY",
            reasons=["DISCLOSURE_BLOCKED"],
            released_fields=[],
            grant_id=None,
            subject_pseudonym=pseudonym,
        )
        records.append(SourceRecord("bus.audit", 1, i, json.dumps(document).encode()))
    for first in range(0, hidden, 5_000):
        store.append(records[first : first + 5_000], NOW)


def median_ms(run: Callable[[], object]) -> float:
    for _ in range(20):
        run()
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1e3)
    return statistics.median(timings)


def measure(store: AuditStore) -> None:
    for subject in (HEAVY, NOBODY):
        where = DecisionQuery(subject=subject).to_filter(PSEUDONYMS, "tax-by")
        assert store.find(where, 100) == [], "the benchmark's person has a visible decision"

    def search(subject: str) -> Callable[[], object]:
        where = DecisionQuery(subject=subject).to_filter(PSEUDONYMS, "tax-by")
        return lambda: store.find(where, 100)

    def report(subject: str) -> Callable[[], object]:
        pseudonym = PSEUDONYMS.pseudonym(AUDIT_AUDIENCE, subject)
        return lambda: subject_report(store, pseudonym, NOW, "tax-by")

    for what, make in (("DPO search", search), ("DPO subject report", report)):
        heavy, nobody = median_ms(make(HEAVY)), median_ms(make(NOBODY))
        print(
            f"  {what}: person with hidden decisions {heavy:.2f} ms; unknown person (baseline) "
            f"{nobody:.2f} ms; ratio {heavy / nobody:.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hidden", type=int, default=30_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    for kind in args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp, stores(kind, Path(tmp)) as url:
            store = open_store(url)
            try:
                fill(store, args.hidden)
                print(f"{kind}: {args.hidden:,} hidden decisions about one person", flush=True)
                measure(store)
            finally:
                store.close()


if __name__ == "__main__":
    main()
