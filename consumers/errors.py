"""Errors of the consumer SDK."""

from bus.errors import BusError


class ConsumerError(BusError):
    """Root of the consumer SDK's errors."""


class ConsumerNotAuthorizedError(ConsumerError):
    """The broker refused this agency a delivery topic or consumer group: no ACL for it, usually
    because the subscription was never registered or its grant was revoked or has expired."""


class WithheldFieldError(ConsumerError, AttributeError):
    """A handler read a field the grant does not release to this consumer for this purpose.

    Not retried: the same event will never carry the field. The delivery goes to the dead-letter
    topic, and the handler (or the grant) needs fixing. An AttributeError too, as reading an
    attribute raises it (`getattr(event, name, default)` and `hasattr` treat it as absent).
    """

    reason = "WITHHELD_FIELD"

    def __init__(self, event_type: str, field: str, consumer: str, purpose: str) -> None:
        super().__init__(
            f"{event_type}.{field} is withheld from {consumer} for purpose {purpose!r}: the grant "
            "does not release it (data minimisation). Ask for a grant that releases it, or do "
            "without it."
        )
        self.field = field
        self.purpose = purpose


class RejectDelivery(ConsumerError):
    """Raised by a handler that refuses a delivery for good (e.g. a person its register cannot
    take): the delivery is dead-lettered at once with the message, not retried."""
