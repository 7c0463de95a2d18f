"""Producer SDK and reference producers."""

from producers.errors import (
    ProducerError,
    ProducerNotAuthorizedError,
    ProducerUnavailableError,
    PublishError,
)
from producers.producer import Credentials, Producer

__all__ = [
    "Credentials",
    "Producer",
    "ProducerError",
    "ProducerNotAuthorizedError",
    "ProducerUnavailableError",
    "PublishError",
]
