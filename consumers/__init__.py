"""Consumer SDK and reference back offices."""

from bus.control.credentials import load_agency_profile
from consumers.consumer import Consumer, ConsumerStats
from consumers.erasure_queue import InboxEntry
from consumers.errors import (
    ConsumerError,
    ConsumerNotAuthorizedError,
    RejectDelivery,
    WithheldFieldError,
)
from consumers.inbox import SqliteInbox
from consumers.purge import Eraser, PurgeResult
from consumers.retry import RetryPolicy
from consumers.view import ReleasedEvent

__all__ = [
    "Consumer",
    "ConsumerError",
    "ConsumerNotAuthorizedError",
    "ConsumerStats",
    "Eraser",
    "InboxEntry",
    "PurgeResult",
    "RejectDelivery",
    "ReleasedEvent",
    "RetryPolicy",
    "SqliteInbox",
    "WithheldFieldError",
    "load_agency_profile",
]
