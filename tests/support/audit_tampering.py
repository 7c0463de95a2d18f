"""Tampering as an operator who can edit the audit store's database and read its files (the audit
key included) would do it: past the store, with raw SQL, leaving a chain that is consistent."""

import json
from datetime import UTC, datetime

from bus.audit.chain import GENESIS, link
from bus.audit.checkpoint import DEFAULT_CADENCE, sign_checkpoint
from bus.envelope.attributes import format_time
from bus.keys import AgencySigningKey
from tests.support.audit_stores import RawSql


def delete_and_rechain(
    raw: RawSql, first: int, last: int, resign_with: AgencySigningKey | None, every: int = 100
) -> None:
    """Delete records `first`–`last` and every checkpoint, renumber the rest, recompute every
    hash and, given a key, sign checkpoints again every `every` records and at the head."""
    raw("DELETE FROM decisions WHERE seq BETWEEN ? AND ?", (first, last))
    raw("DELETE FROM checkpoints")
    # Through negative numbers: a primary key is checked row by row while an UPDATE runs.
    raw("UPDATE decisions SET seq = -seq WHERE seq > ?", (last,))
    raw("UPDATE decisions SET seq = -seq - ? WHERE seq < 0", (last - first + 1,))
    chain, updates = GENESIS, []
    for seq, record in raw("SELECT seq, record FROM decisions ORDER BY seq"):
        previous, chain = chain, link(chain, seq, bytes(record))
        updates.append((previous, chain, seq))
    raw.many("UPDATE decisions SET prev_hash = ?, hash = ? WHERE seq = ?", updates)
    if resign_with is not None:
        head = updates[-1][2]
        positions = tuple(
            (t, int(p), int(o))
            for t, p, o in raw("SELECT topic, partition, next_offset FROM source_positions")
        )
        signed_at = format_time(datetime.now(UTC))
        for _, chain_hash, seq in updates:
            if seq % every == 0 or seq == head:
                cp = sign_checkpoint(
                    resign_with, seq, chain_hash, signed_at, positions, DEFAULT_CADENCE
                )
                raw(
                    "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        cp.seq,
                        cp.chain_hash,
                        cp.signed_at,
                        cp.key_id,
                        cp.signature,
                        json.dumps(positions),
                        DEFAULT_CADENCE.records,
                        DEFAULT_CADENCE.ms,
                    ),
                )


def delete_tail_and_lower_positions(raw: RawSql, topic: str, after_seq: int) -> None:
    """Delete the records after `after_seq` with the checkpoints over them, and lower the
    store's positions to just past what is left, as if the rest had never been read."""
    raw("DELETE FROM decisions WHERE seq > ?", (after_seq,))
    raw("DELETE FROM checkpoints WHERE seq > ?", (after_seq,))
    lower_positions(raw, topic)


def lower_positions(raw: RawSql, topic: str) -> None:
    """Set the store's positions on `topic` to just past the records it holds."""
    kept = raw(
        "SELECT source_partition, max(source_offset) FROM decisions WHERE source_topic = ? "
        "GROUP BY source_partition",
        (topic,),
    )
    for partition, offset in kept:
        raw(
            "UPDATE source_positions SET next_offset = ? WHERE topic = ? AND partition = ?",
            (int(offset) + 1, topic, partition),
        )
