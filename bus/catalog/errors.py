"""Errors of the event catalogue."""

from bus.errors import BusError


class CatalogError(BusError):
    """The catalogue is inconsistent (for example two classes for one type and version)."""


class UnknownEventTypeError(CatalogError):
    """An event type or version that the catalogue does not know; the message lists the known ones."""

    def __init__(
        self,
        event_type: str,
        version: int | None,
        known_types: list[str],
        known_versions: list[int] | None = None,
    ) -> None:
        if known_versions:
            versions = ", ".join(str(number) for number in known_versions)
            message = (
                f"event type {event_type!r} has no version {version}; known versions: {versions}"
            )
        else:
            what = f"event type {event_type!r}" + ("" if version is None else f" version {version}")
            message = f"unknown {what}; known event types: {', '.join(known_types) or 'none'}"
        super().__init__(message)
        self.event_type = event_type
        self.version = version
        self.known_types = known_types
