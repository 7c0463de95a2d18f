"""Consumer SDK and reference back offices.

A back office keeps its inbox in its own database: `SqliteInbox` (a file) or `PostgresInbox` (its
PostgreSQL database, beside its own tables); both are an `Inbox` (consumers/inbox_protocol.py).
"""

from bus.control.credentials import load_agency_profile
from consumers.consumer import Consumer, ConsumerStats
from consumers.erasure_queue import InboxEntry
from consumers.errors import (
    ConsumerError,
    ConsumerNotAuthorizedError,
    RejectDelivery,
    WithheldFieldError,
)
from consumers.inbox import Inbox, InboxOutcome, SqliteInbox
from consumers.inbox_postgres import PostgresInbox
from consumers.purge import Eraser, PurgeResult
from consumers.retry import RetryPolicy
from consumers.view import ReleasedEvent

__all__ = [
    "Consumer",
    "ConsumerError",
    "ConsumerNotAuthorizedError",
    "ConsumerStats",
    "Eraser",
    "Inbox",
    "InboxEntry",
    "InboxOutcome",
    "PostgresInbox",
    "PurgeResult",
    "RejectDelivery",
    "ReleasedEvent",
    "RetryPolicy",
    "SqliteInbox",
    "WithheldFieldError",
    "load_agency_profile",
]
