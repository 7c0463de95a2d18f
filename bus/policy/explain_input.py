"""The event file `bus policy explain` reads: one catalogue event and who published it.

    {"type": "population.AddressChanged", "version": 1, "producer": "muni-09362000",
     "data": {...the event's fields, as in `bus catalog show TYPE`...}}

`version` defaults to the latest version of the type. The data is validated by the catalogue, so
a file that explains a decision is also a valid event.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bus.catalog import CATALOG, Catalog, Event
from bus.errors import BusError


class EventFileError(BusError):
    """The event file is missing, not JSON, or does not hold a valid catalogue event."""


@dataclass(frozen=True)
class EventInput:
    """A validated catalogue event and the id of the agency said to have published it."""

    event: Event
    producer: str


def load_event_file(path: Path, catalog: Catalog = CATALOG) -> EventInput:
    """Read and validate the event file at `path` against `catalog`; EventFileError (or the
    catalogue's UnknownEventTypeError) says what is wrong, and where."""
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EventFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EventFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise EventFileError(f"{path}: expected an object with type, version, producer and data")
    event_type, producer, data = (
        document.get("type"),
        document.get("producer"),
        document.get("data"),
    )
    version = document.get("version")
    if not isinstance(event_type, str):
        raise EventFileError(
            f"{path}: type: expected an event type such as population.AddressChanged"
        )
    if not isinstance(producer, str) or not producer:
        raise EventFileError(f"{path}: producer: expected the publishing agency's id")
    if not isinstance(data, dict):
        raise EventFileError(f"{path}: data: expected an object with the event's fields")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise EventFileError(f"{path}: version: expected an integer, got {version!r}")
    # The catalogue's own error names the known types and versions.
    model = catalog.latest(event_type) if version is None else catalog.get(event_type, version)
    try:
        event = model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(["data", *(str(part) for part in error["loc"])])
        more = len(exc.errors()) - 1
        suffix = f"; and {more} more problem(s)" if more else ""
        raise EventFileError(f"{path}: {key}: {error['msg']}{suffix}") from None
    return EventInput(event, producer)
