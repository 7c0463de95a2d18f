"""Consumer SDK and reference back offices."""

from consumers.consumer import Consumer, ConsumerStats
from consumers.errors import ConsumerError, ConsumerNotAuthorizedError, WithheldFieldError
from consumers.inbox import SqliteInbox
from consumers.retry import RetryPolicy
from consumers.view import ReleasedEvent

__all__ = [
    "Consumer",
    "ConsumerError",
    "ConsumerNotAuthorizedError",
    "ConsumerStats",
    "ReleasedEvent",
    "RetryPolicy",
    "SqliteInbox",
    "WithheldFieldError",
]
