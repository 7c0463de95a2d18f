"""The audit store: append decisions exactly once, chained and checkpointed; query them.

One writer (the indexer) appends; any number of readers (API, CLI, verify) query. Every append
writes, in one database transaction, the records with their chain hashes, the source positions
they came from and any checkpoint due, so a crash at any point leaves a consistent store that
resumes where it stopped.
"""

import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bus.audit.chain import GENESIS, link
from bus.audit.checkpoint import Cadence, Checkpoint, Positions, sign_checkpoint
from bus.audit.columns import COLUMN_NAMES, UNREADABLE, columns_of
from bus.audit.store.backend import Backend
from bus.audit.store.decision_filter import DecisionFilter, conditions_of, where_clause
from bus.audit.store.erasures import (
    StoredErasure,
    erasure_positions,
    erasure_statements,
    erasures_of,
    put_erasures,
)
from bus.audit.store.rows import (
    AppendResult,
    ChainRow,
    Position,
    SourceRecord,
    StatRow,
    StoredDecision,
    checkpoint_of_row,
    decision_of_row,
)
from bus.audit.store.schema import SCHEMA_VERSION, migration, statements
from bus.envelope.attributes import format_time, parse_time
from bus.errors import ConfigError
from bus.keys import AgencySigningKey

_DECISION_COLUMNS = (
    "seq",
    "source_topic",
    "source_partition",
    "source_offset",
    "record",
    "prev_hash",
    "hash",
    *COLUMN_NAMES,
)
_SELECT = (
    "SELECT seq, source_topic, source_partition, source_offset, record, "
    f"{', '.join(COLUMN_NAMES)} FROM decisions"
)


@dataclass(frozen=True, slots=True)
class Checkpointing:
    """When `append` signs checkpoints, and with which key.

    Parameters:
        key: the audit key (audit_key.py) the checkpoints are signed with.
        every_records: sign every record whose seq is a multiple of this.
        every_seconds: sign the newest record if the last checkpoint is this old.
        sign_head_now: sign the newest record now, whatever the cadence.
    """

    key: AgencySigningKey
    every_records: int = 1_000
    every_seconds: float = 60.0
    # Sign the newest record now, whatever the cadence (an indexer leaving): the cadence signed
    # stays the declared one, which `verify` holds later gaps against.
    sign_head_now: bool = False

    @property
    def cadence(self) -> Cadence:
        """The declared cadence each checkpoint signs (records, milliseconds)."""
        return Cadence(self.every_records, round(self.every_seconds * 1000))


class AuditStore:
    """The indexed audit trail in one database (see above); `open_store(url)` opens one.

    Creates its tables on first use and migrates an older schema; refuses (ConfigError) a schema
    newer than this version reads. Safe to share between threads: one lock serialises the use of
    its connection (`chain` and `from_partition` stream on a connection of their own).

    Parameters:
        backend: the database (SqliteBackend or PostgresBackend).
        description: where the store is, without secrets, for messages.
    """

    def __init__(self, backend: Backend, description: str) -> None:
        self.backend = backend
        self.description = description  # where it is, without secrets: for messages
        self._lock = threading.Lock()  # one connection, shared by the API's worker threads
        self._last_checkpoint: tuple[int, datetime] | None = None
        with self._lock, backend.transaction():
            for statement in statements(backend) + erasure_statements(backend):
                backend.execute(statement)
            found = backend.fetch("SELECT value FROM store_meta WHERE key = 'schema'")
            if not found:
                backend.execute("INSERT INTO store_meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif migration(backend, found[0][0]):
                for statement in migration(backend, found[0][0]):
                    backend.execute(statement)
                backend.execute(
                    "UPDATE store_meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,)
                )
            elif found[0][0] != SCHEMA_VERSION:
                raise ConfigError(
                    f"{description}: audit store schema {found[0][0]}, this version reads "
                    f"{SCHEMA_VERSION}; use a matching version of bus"
                )

    def close(self) -> None:
        """Close the database connection."""
        self.backend.close()

    # --- writing (the indexer) ---

    def positions(self) -> dict[Position, int]:
        """Next offset to read per source partition: where the last committed append stopped."""
        with self._lock:
            return self._stored_positions()

    def append(
        self,
        records: Sequence[SourceRecord],
        now: datetime,
        checkpointing: Checkpointing | None = None,
        snapshots: Iterable[tuple[str, bytes]] = (),
        positions: Mapping[Position, int] | None = None,
    ) -> AppendResult:
        """Store `records` in order, with `snapshots` (hash, document) and the source positions
        reached (by default: each record's offset + 1), all in one transaction."""
        reached = dict(positions or {})
        for record in records:
            reached[(record.topic, record.partition)] = record.offset + 1
        # Parsed before taking the lock: readers wait only for the database write.
        parsed = [columns_of(r.value) for r in records]
        with self._lock, self.backend.transaction():
            for topic in sorted({r.topic for r in records}):
                self._bind_audit_topic(topic)
            seq, chain = self._head()
            rows = []
            due: list[tuple[int, bytes, Positions]] = []
            unreadable: list[SourceRecord] = []
            every = checkpointing.every_records if checkpointing else 0
            # What a checkpoint at each seq covers: the stored positions, advanced record by record.
            covered = self._stored_positions() if checkpointing else {}
            for record, row_columns in zip(records, parsed, strict=True):
                seq += 1
                previous, chain = chain, link(chain, seq, record.value)
                if row_columns.outcome == UNREADABLE:
                    unreadable.append(record)
                rows.append(
                    (
                        seq,
                        record.topic,
                        record.partition,
                        record.offset,
                        record.value,
                        previous,
                        chain,
                        *row_columns,
                    )
                )
                if every:
                    covered[(record.topic, record.partition)] = record.offset + 1
                    if seq % every == 0:
                        due.append((seq, chain, _frozen(covered)))
            if rows:
                self.backend.insert_many("decisions", _DECISION_COLUMNS, rows)
            stored_snapshots = list(snapshots)
            for snapshot_hash, document in stored_snapshots:
                self._put_snapshot(snapshot_hash, document, now)
            for (topic, partition), offset in reached.items():
                self._set_position(topic, partition, offset)
            signed: list[Checkpoint] = []
            if checkpointing:
                head = (seq, chain, _frozen({**covered, **reached}))
                signed = self._sign_due(due, head, checkpointing, now)
            if signed:
                self._last_checkpoint = (signed[-1].seq, now)
            last = self._last_checkpoint or self._read_last_checkpoint()
        return AppendResult(
            signed,
            unreadable,
            seq,
            seq - (last[0] if last else 0),
            len(rows),
            len(stored_snapshots),
        )

    def bind_audit_topic(self, topic: str) -> None:
        """Tie the store to the one audit topic it is filled from (on first use); ConfigError if
        it is tied to another. A decision claiming another source would escape `reconcile`,
        which holds the store against the audit topic's partitions."""
        with self._lock, self.backend.transaction():
            self._bind_audit_topic(topic)

    def audit_topic(self) -> str | None:
        """The audit topic the store is filled from; None before the first record."""
        with self._lock:
            return self._bound_topic()

    def _bound_topic(self) -> str | None:
        rows = self.backend.fetch("SELECT value FROM store_meta WHERE key = 'audit_topic'")
        return str(rows[0][0]) if rows else None

    def _bind_audit_topic(self, topic: str) -> None:
        bound = self._bound_topic()
        if bound is None:
            self.backend.execute("INSERT INTO store_meta VALUES ('audit_topic', ?)", (topic,))
        elif bound != topic:
            raise ConfigError(
                f"{self.description}: this audit store is filled from the audit topic {bound}; "
                f"refusing records from {topic[:120]!r}"
            )

    def _head(self) -> tuple[int, bytes]:
        rows = self.backend.fetch("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else (0, GENESIS)

    def _sign_due(
        self,
        due: list[tuple[int, bytes, Positions]],
        head: tuple[int, bytes, Positions],
        checkpointing: Checkpointing,
        now: datetime,
    ) -> list[Checkpoint]:
        last = self._last_checkpoint or self._read_last_checkpoint()
        last_seq = due[-1][0] if due else (last[0] if last else 0)
        overdue = (
            last is None
            or checkpointing.sign_head_now
            or (now - last[1]).total_seconds() >= checkpointing.every_seconds
        )
        if head[0] > last_seq and overdue:
            # Time-based: however few records came, the newest is signed within T seconds.
            due.append(head)
        signed_at, cadence = format_time(now), checkpointing.cadence
        checkpoints = [
            sign_checkpoint(checkpointing.key, s, h, signed_at, p, cadence) for s, h, p in due
        ]
        for cp in checkpoints:
            self.backend.execute(
                "INSERT INTO checkpoints (seq, chain_hash, signed_at, key_id, signature, "
                "positions, cadence_records, cadence_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cp.seq,
                    cp.chain_hash,
                    cp.signed_at,
                    cp.key_id,
                    cp.signature,
                    json.dumps(cp.positions),
                    cadence.records,
                    cadence.ms,
                ),
            )
        return checkpoints

    def _stored_positions(self) -> dict[Position, int]:
        rows = self.backend.fetch("SELECT topic, partition, next_offset FROM source_positions")
        return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}

    def _read_last_checkpoint(self) -> tuple[int, datetime] | None:
        rows = self.backend.fetch(
            "SELECT seq, signed_at FROM checkpoints ORDER BY seq DESC LIMIT 1"
        )
        return (int(rows[0][0]), parse_time(rows[0][1])) if rows else None

    def _set_position(self, topic: str, partition: int, offset: int) -> None:
        self.backend.execute(
            "INSERT INTO source_positions VALUES (?, ?, ?) ON CONFLICT (topic, partition) "
            "DO UPDATE SET next_offset = excluded.next_offset",
            (topic, partition, offset),
        )

    def _put_snapshot(self, snapshot_hash: str, document: bytes, now: datetime) -> None:
        self.backend.execute(
            "INSERT INTO policy_snapshots VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING",
            (snapshot_hash, document, format_time(now)),
        )

    # --- reading ---

    def count(self) -> int:
        """How many records the store holds."""
        with self._lock:
            return int(self.backend.fetch("SELECT count(*) FROM decisions")[0][0])

    def head(self) -> tuple[int, bytes]:
        """The newest record's seq and chain hash; (0, GENESIS) for an empty store."""
        with self._lock:
            return self._head()

    def find(
        self, where: DecisionFilter, limit: int = 100, before_seq: int | None = None
    ) -> list[StoredDecision]:
        """Newest first; `before_seq` continues a listing after its last row."""
        conditions, params = conditions_of(where)
        if before_seq is not None:
            conditions.append("seq < ?")
            params.append(before_seq)
        sql = f"{_SELECT}{where_clause(conditions)} ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self.backend.fetch(sql, [*params, limit])
        return [decision_of_row(row) for row in rows]

    def get(self, seq: int, where: DecisionFilter | None = None) -> StoredDecision | None:
        """Record `seq` if it exists and meets `where`; else None."""
        conditions, params = conditions_of(where or DecisionFilter())
        sql = f"{_SELECT}{where_clause(['seq = ?', *conditions])}"
        with self._lock:
            rows = self.backend.fetch(sql, [seq, *params])
        return decision_of_row(rows[0]) if rows else None

    def seq_at(
        self, topic: str, partition: int, offset: int, where: DecisionFilter | None = None
    ) -> int | None:
        """The seq of the record read at topic/partition/offset, if stored and it meets `where`."""
        conditions, params = conditions_of(where or DecisionFilter())
        position = ["source_topic = ?", "source_partition = ?", "source_offset = ?"]
        sql = f"SELECT seq FROM decisions{where_clause([*position, *conditions])}"
        with self._lock:
            rows = self.backend.fetch(sql, [topic, partition, offset, *params])
        return int(rows[0][0]) if rows else None

    def stats(self, where: DecisionFilter, bucket_chars: int) -> list[StatRow]:
        """Counts per time bucket (the first `bucket_chars` of the RFC 3339 time: 7 month,
        10 day, 13 hour) × consumer × outcome × reasons."""
        conditions, params = conditions_of(where)
        sql = (
            "SELECT substr(decided_at, 1, ?), consumer, outcome, reasons, count(*) FROM decisions"
            f"{where_clause(conditions)} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        )
        with self._lock:
            rows = self.backend.fetch(sql, [bucket_chars, *params])
        return [StatRow(b or "", c, o, r, int(n)) for b, c, o, r, n in rows]

    def chain(self) -> Iterator[ChainRow]:
        """Every record in seq order, streamed (verification of a large store)."""
        sql = f"SELECT seq, prev_hash, hash, record, {', '.join(COLUMN_NAMES)} FROM decisions ORDER BY seq"
        for row in self.backend.stream(sql):
            yield ChainRow(int(row[0]), bytes(row[1]), bytes(row[2]), bytes(row[3]), tuple(row[4:]))

    def from_partition(self, topic: str, partition: int) -> Iterator[tuple[int, int, bytes]]:
        """(seq, source offset, record) of what came from one source partition, in seq order
        (the order it was stored in: ascending offsets, unless tampered with). Streamed."""
        sql = (
            "SELECT seq, source_offset, record FROM decisions "
            "WHERE source_topic = ? AND source_partition = ? ORDER BY seq"
        )
        for seq, offset, record in self.backend.stream(sql, (topic, partition)):
            yield int(seq), int(offset), bytes(record)

    def source_partitions(self) -> set[Position]:
        """Every (topic, partition) a stored record claims to come from (a full scan)."""
        with self._lock:
            rows = self.backend.fetch(
                "SELECT DISTINCT source_topic, source_partition FROM decisions"
            )
        return {(str(topic), int(partition)) for topic, partition in rows}

    def seq_of_hash(self, chain_hash: bytes) -> int | None:
        """Which record carries this hash (a full scan: only after a break was found)."""
        with self._lock:
            rows = self.backend.fetch("SELECT seq FROM decisions WHERE hash = ?", (chain_hash,))
        return int(rows[0][0]) if rows else None

    def checkpoints(self, after_seq: int = 0) -> list[Checkpoint]:
        """In seq order; `after_seq`: only those signing a later record."""
        with self._lock:
            rows = self.backend.fetch(
                "SELECT seq, chain_hash, signed_at, key_id, signature, positions, cadence_records, "
                "cadence_ms FROM checkpoints WHERE seq > ? ORDER BY seq",
                (after_seq,),
            )
        return [checkpoint_of_row(row) for row in rows]

    def newest_checkpoint_key(self) -> str | None:
        """The key id that signed the newest checkpoint; None if there is none."""
        with self._lock:
            rows = self.backend.fetch("SELECT key_id FROM checkpoints ORDER BY seq DESC LIMIT 1")
        return str(rows[0][0]) if rows else None

    def snapshot_document(self, snapshot_hash: str) -> bytes | None:
        """The policy snapshot stored under `snapshot_hash`, as its document's bytes; or None."""
        with self._lock:
            rows = self.backend.fetch(
                "SELECT document FROM policy_snapshots WHERE hash = ?", (snapshot_hash,)
            )
        return bytes(rows[0][0]) if rows else None

    # --- the consumers' erasure records (bus/audit/store/erasures.py) ---

    def append_erasures(
        self, erasures: Sequence[StoredErasure], positions: Mapping[Position, int]
    ) -> None:
        """Keep `erasures` and the erasures topics' positions reached, in one transaction."""
        with self._lock, self.backend.transaction():
            put_erasures(self.backend, erasures, positions)

    def erasure_positions(self) -> dict[Position, int]:
        """Next offset to read per erasures topic partition."""
        with self._lock:
            return erasure_positions(self.backend)

    def erasures_of(self, event_ids: Iterable[str]) -> list[StoredErasure]:
        """Every erasure record naming one of `event_ids` (any agency's: join by consumer)."""
        with self._lock:
            return erasures_of(self.backend, event_ids)

    # --- the API's own access log ---

    def log_access(
        self,
        at: datetime,
        token_name: str | None,
        role: str | None,
        agency: str | None,
        method: str,
        path: str,
        query: str,
        status: int,
    ) -> None:
        """Record one request to the auditor API: when, by whom (token name, role, agency),
        what was asked and the status answered."""
        with self._lock, self.backend.transaction():
            self.backend.execute(
                "INSERT INTO api_access (at, token_name, role, agency, method, path, query, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (format_time(at), token_name, role, agency, method, path, query, status),
            )

    def access_log(self, limit: int = 100) -> list[tuple[Any, ...]]:
        """The newest `limit` requests of the access log, newest first, as
        (at, token_name, role, agency, method, path, query, status)."""
        with self._lock:
            return self.backend.fetch(
                "SELECT at, token_name, role, agency, method, path, query, status FROM api_access"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            )


def _frozen(positions: Mapping[Position, int]) -> Positions:
    return tuple(
        sorted((topic, partition, offset) for (topic, partition), offset in positions.items())
    )
