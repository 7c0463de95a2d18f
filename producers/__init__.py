"""Producer SDK and reference producers."""

from bus.control.credentials import Credentials
from producers.errors import (
    ProducerError,
    ProducerNotAuthorizedError,
    ProducerUnavailableError,
    PublishError,
)
from producers.producer import Producer

__all__ = [
    "Credentials",
    "Producer",
    "ProducerError",
    "ProducerNotAuthorizedError",
    "ProducerUnavailableError",
    "PublishError",
]
