"""Producer SDK and reference producers."""

from bus.control.credentials import Credentials
from producers.errors import (
    InvalidEventIdError,
    ProducerConfigError,
    ProducerError,
    ProducerNotAuthorizedError,
    ProducerNotStartedError,
    ProducerUnavailableError,
    PublishError,
)
from producers.producer import Producer

__all__ = [
    "Credentials",
    "InvalidEventIdError",
    "Producer",
    "ProducerConfigError",
    "ProducerError",
    "ProducerNotAuthorizedError",
    "ProducerNotStartedError",
    "ProducerUnavailableError",
    "PublishError",
]
