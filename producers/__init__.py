"""Producer SDK and reference producers."""

from bus.control.credentials import load_agency_profile
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile
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
    "InvalidEventIdError",
    "KafkaConnection",
    "Producer",
    "ProducerConfigError",
    "ProducerError",
    "ProducerNotAuthorizedError",
    "ProducerNotStartedError",
    "ProducerUnavailableError",
    "PublishError",
    "load_agency_profile",
    "load_profile",
]
