"""Errors of the register adapter. Broker trouble reuses the producer SDK's errors."""

from collections.abc import Sequence

from producers.errors import ProducerError, ProducerNotAuthorizedError


class RegisterFileError(ProducerError):
    """A whole file cannot be read as a register export (no or wrong header, not UTF-8).

    Nothing from it is published; the adapter moves it to `<inbox>/rejected/` with this message.
    """

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        missing: Sequence[str] = (),
        unknown: Sequence[str] = (),
    ) -> None:
        super().__init__(f"{source}: {problem}; nothing from this file was published")
        self.source = source
        self.missing = tuple(missing)
        self.unknown = tuple(unknown)


class ProgressTopicUnavailableError(ProducerNotAuthorizedError):
    """The agency's source-offsets topic is missing or the agency may not read it."""


class AdapterFencedError(ProducerError):
    """Another adapter with the same transactional id started: this one must stop (a zombie)."""
