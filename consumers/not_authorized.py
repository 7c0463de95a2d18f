"""The broker's refusals of an agency's delivery topics or group, as one clear error: the consumer
SDK and the webhook bridge read the same topics with the same credentials."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)

from consumers.errors import ConsumerNotAuthorizedError


@contextmanager
def refusals_explained(username: str, topics: Sequence[str], group: str) -> Iterator[None]:
    """Turn the broker's authorization errors inside into ConsumerNotAuthorizedError."""
    try:
        yield
    except (
        TopicAuthorizationFailedError,
        GroupAuthorizationFailedError,
        ClusterAuthorizationFailedError,  # the dead-letter producer: no WRITE anywhere yet
    ) as exc:
        raise ConsumerNotAuthorizedError(
            f"{username!r} may not read {sorted(topics)} with group {group!r} "
            f"({exc.__class__.__name__}). Register the subscription with `bus subscribe`; the bus "
            "grants READ only while a grant authorizes it."
        ) from exc
