"""Where indexed decisions live: SQLite (embedded, the default) or PostgreSQL, one schema."""

from bus.audit.store.audit_store import AuditStore
from bus.audit.store.connect import DEFAULT_STORE_NAME, default_store_url, open_store
from bus.audit.store.decision_filter import DecisionFilter
from bus.audit.store.rows import SourceRecord, StoredDecision

__all__ = [
    "DEFAULT_STORE_NAME",
    "AuditStore",
    "DecisionFilter",
    "SourceRecord",
    "StoredDecision",
    "default_store_url",
    "open_store",
]
