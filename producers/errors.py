"""Errors of the producer SDK: nothing is dropped silently, every failure names the events it concerns."""

from bus.errors import BusError


class ProducerError(BusError):
    """Root of the producer SDK's errors."""


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
