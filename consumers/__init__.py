"""Consumer SDK and reference back offices."""

from consumers.consumer import Consumer, ConsumerStats
from consumers.erasure_queue import InboxEntry
from consumers.errors import ConsumerError, ConsumerNotAuthorizedError, WithheldFieldError
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
    "ReleasedEvent",
    "RetryPolicy",
    "SqliteInbox",
    "WithheldFieldError",
]
