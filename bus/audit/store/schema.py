"""The store's tables, the same on SQLite and PostgreSQL but for column types."""

from bus.audit.store.backend import Backend

SCHEMA_VERSION = "2"
# Schema 1 → 2: checkpoints sign the source positions they cover and their cadence. The chain is
# unchanged, so a schema-1 store keeps verifying; its old checkpoints simply cover neither.
MIGRATIONS = {
    "1": [
        "ALTER TABLE checkpoints ADD COLUMN positions TEXT",
        "ALTER TABLE checkpoints ADD COLUMN cadence_records INTEGER",
        "ALTER TABLE checkpoints ADD COLUMN cadence_ms {bigint}",
    ]
}


def statements(db: Backend) -> list[str]:
    """The CREATE TABLE and CREATE INDEX statements (IF NOT EXISTS) in `db`'s dialect."""
    blob, bigint = db.blob, db.bigint
    return [
        "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS decisions (
            seq {bigint} PRIMARY KEY,
            source_topic TEXT NOT NULL,
            source_partition INTEGER NOT NULL,
            source_offset {bigint} NOT NULL,
            record {blob} NOT NULL,
            prev_hash {blob} NOT NULL,
            hash {blob} NOT NULL,
            event_id TEXT, claimed_event_id TEXT, event_type TEXT, producer TEXT, consumer TEXT,
            purpose TEXT, legal_basis TEXT, outcome TEXT NOT NULL, reasons TEXT NOT NULL,
            released_fields TEXT NOT NULL, grant_id TEXT, snapshot_hash TEXT, decided_at TEXT,
            decided_at_us {bigint}, subject_pseudonym TEXT)""",
        # One index per way auditors look: by person, by receiving agency, by sending agency, by
        # event, by time. Each ends in seq where listings page by it.
        "CREATE INDEX IF NOT EXISTS decisions_subject ON decisions (subject_pseudonym, seq)",
        "CREATE INDEX IF NOT EXISTS decisions_consumer ON decisions (consumer, seq)",
        "CREATE INDEX IF NOT EXISTS decisions_producer ON decisions (producer, seq)",
        "CREATE INDEX IF NOT EXISTS decisions_event ON decisions (event_id)",
        # Only quarantined input has a claimed (unverified) id: index those rows alone.
        "CREATE INDEX IF NOT EXISTS decisions_claimed ON decisions (claimed_event_id)"
        " WHERE claimed_event_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS decisions_time ON decisions (decided_at_us)",
        # The watch's alerts name decisions by where their record was read on the audit topic.
        "CREATE INDEX IF NOT EXISTS decisions_source"
        " ON decisions (source_topic, source_partition, source_offset)",
        # A DPO's look-ups by person, scope first (bus/audit/scope.py): they read the rows it may
        # see and no other, so their time tells nothing of the decisions it may not.
        "CREATE INDEX IF NOT EXISTS decisions_dpo_consumer"
        " ON decisions (consumer, subject_pseudonym, outcome, seq)",
        "CREATE INDEX IF NOT EXISTS decisions_dpo_producer"
        " ON decisions (producer, subject_pseudonym, outcome, seq)",
        f"""CREATE TABLE IF NOT EXISTS checkpoints (
            seq {bigint} PRIMARY KEY, chain_hash TEXT NOT NULL, signed_at TEXT NOT NULL,
            key_id TEXT NOT NULL, signature {blob} NOT NULL,
            positions TEXT, cadence_records INTEGER, cadence_ms {bigint})""",
        f"""CREATE TABLE IF NOT EXISTS source_positions (
            topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset {bigint} NOT NULL,
            PRIMARY KEY (topic, partition))""",
        f"""CREATE TABLE IF NOT EXISTS policy_snapshots (
            hash TEXT PRIMARY KEY, document {blob} NOT NULL, first_seen TEXT NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS api_access (
            id {db.serial_key}, at TEXT NOT NULL, token_name TEXT, role TEXT, agency TEXT,
            method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL, status INTEGER NOT NULL)""",
    ]


def migration(db: Backend, version: str) -> list[str]:
    """The statements that bring a store of `version` to SCHEMA_VERSION; [] if there are none."""
    return [sql.format(bigint=db.bigint) for sql in MIGRATIONS.get(version, [])]
