"""The consumers' erasure records in the audit store: what each agency said it erased, kept by
the agency whose topic it came from, and joined to the PERMIT decisions at read time only.

They are not part of the hash chain: the chain is the enforcer's record of its decisions, and an
agency's claim is no decision. A record naming a delivery the agency never received stays here
and matches no decision, so no report shows it.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bus.audit.store.backend import Backend
from bus.audit.store.rows import Position
from bus.record.erasure_record import ErasureRecord

_COLUMNS = ("consumer", "source", "event_id", "purpose", "event_type", "erase_by", "erased_at")
# Look-ups by event id go in chunks: a bound on the statement's parameters.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredErasure:
    """One erasure record, `consumer` the agency whose erasures topic carried it."""

    consumer: str
    record: ErasureRecord


def erasure_statements(db: Backend) -> list[str]:
    """The erasure tables (IF NOT EXISTS): added to any store without a schema change."""
    return [
        """CREATE TABLE IF NOT EXISTS erasures (
            consumer TEXT NOT NULL, source TEXT NOT NULL, event_id TEXT NOT NULL,
            purpose TEXT NOT NULL, event_type TEXT NOT NULL, erase_by TEXT NOT NULL,
            erased_at TEXT NOT NULL, PRIMARY KEY (consumer, source, event_id, purpose))""",
        "CREATE INDEX IF NOT EXISTS erasures_event ON erasures (event_id)",
        # Apart from source_positions: checkpoints sign those, and erasures are not chained.
        f"""CREATE TABLE IF NOT EXISTS erasure_positions (
            topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset {db.bigint} NOT NULL,
            PRIMARY KEY (topic, partition))""",
    ]


def put_erasures(
    db: Backend, erasures: Sequence[StoredErasure], positions: Mapping[Position, int]
) -> None:
    """Keep `erasures` (a repeated one, the SDK's at-least-once, is kept once: the first) and the
    positions reached, inside the caller's transaction."""
    for stored in erasures:
        e = stored.record
        db.execute(
            f"INSERT INTO erasures ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (consumer, source, event_id, purpose) DO NOTHING",
            (
                stored.consumer,
                e.source,
                e.event_id,
                e.purpose,
                e.event_type,
                e.erase_by,
                e.erased_at,
            ),
        )
    for (topic, partition), offset in positions.items():
        db.execute(
            "INSERT INTO erasure_positions VALUES (?, ?, ?) ON CONFLICT (topic, partition) "
            "DO UPDATE SET next_offset = excluded.next_offset",
            (topic, partition, offset),
        )


def erasure_positions(db: Backend) -> dict[Position, int]:
    """Next offset to read per erasures topic partition."""
    rows = db.fetch("SELECT topic, partition, next_offset FROM erasure_positions")
    return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}


def erasures_of(db: Backend, event_ids: Iterable[str]) -> list[StoredErasure]:
    """Every erasure record naming one of `event_ids`, whichever agency sent it."""
    ids = sorted(set(event_ids))
    found: list[StoredErasure] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = db.fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM erasures WHERE event_id IN ({marks})",
            chunk,
        )
        found += [StoredErasure(row[0], ErasureRecord(*row[1:])) for row in rows]
    return found
