"""Errors of the producer SDK: nothing is dropped silently, every failure names the events it concerns."""

from bus.errors import BusError


class ProducerError(BusError):
    """Root of the producer SDK's errors."""


class ProducerConfigError(ProducerError, ValueError):
    """The producer or adapter was given values that cannot work (a signing key of another agency,
    fewer than one connect attempt, a chunk size below one); nothing was sent. A ValueError too,
    as it was before the SDK had errors of its own."""


class ProducerNotStartedError(ProducerError, RuntimeError):
    """Publishing before the producer was started: use `async with Producer(...)` or `start()`.
    A RuntimeError too, as it was before the SDK had errors of its own."""


class InvalidEventIdError(ProducerError, ValueError):
    """The event ids given for a retry are wrong (not one per event, not a canonical UUID, or one
    twice); nothing of the call was sent. A ValueError too, as it was before."""


class ProducerUnavailableError(ProducerError):
    """The broker could not be reached (or refused the credentials) within the bounded retries."""


class ProducerNotAuthorizedError(ProducerError):
    """The broker knows the credentials but the principal may not publish; retrying will not help."""


class PublishError(ProducerError):
    """One or more events were not acknowledged by the broker.

    `failed` holds their event ids; `published` the ids of the same call that were acknowledged;
    `ids` the id of every event of the call, in the order the events were given. Publish a failed
    event again with its id (`publish(event, event_id=…)`, `publish_many(…, event_ids=…)`): if the
    first attempt reached the broker after all, consumers recognise the copy by (source, id).
    """

    def __init__(
        self, message: str, failed: list[str], published: list[str], ids: list[str]
    ) -> None:
        super().__init__(message)
        self.failed = failed
        self.published = published
        self.ids = ids
