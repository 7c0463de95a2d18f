"""The catalogue: which event types and versions exist, looked up by name and version."""

from collections.abc import Iterable, Iterator

from bus.catalog.errors import CatalogError, UnknownEventTypeError
from bus.catalog.event import Event
from bus.catalog.population import AddressChanged, PersonDied, PersonDiedV1
from bus.catalog.vehicles import VehicleOwnershipChanged, VehicleOwnershipChangedV1


class Catalog:
    """An immutable set of event classes, indexed by type name and version.

    `events`: the classes, each setting `event_type` and `event_version`; a class without them, or
    a type and version defined twice, is a `CatalogError`.
    """

    def __init__(self, events: Iterable[type[Event]]) -> None:
        self._by_type: dict[str, dict[int, type[Event]]] = {}
        for event in events:
            if not hasattr(event, "event_type") or not hasattr(event, "event_version"):
                raise CatalogError(f"{event.__qualname__} sets no event_type and event_version")
            versions = self._by_type.setdefault(event.event_type, {})
            other = versions.get(event.event_version)
            if other is not None:
                raise CatalogError(
                    f"{event.event_type} v{event.event_version} is defined twice: "
                    f"by {other.__qualname__} and by {event.__qualname__}"
                )
            versions[event.event_version] = event

    def get(self, event_type: str, version: int) -> type[Event]:
        """The class of one type and version; UnknownEventTypeError if there is none."""
        versions = self._by_type.get(event_type, {})
        event = versions.get(version)
        if event is None:
            raise UnknownEventTypeError(event_type, version, self.event_types(), sorted(versions))
        return event

    def latest(self, event_type: str) -> type[Event]:
        """The highest version of a type."""
        return self.versions(event_type)[-1]

    def versions(self, event_type: str) -> list[type[Event]]:
        """All versions of a type, oldest first."""
        versions = self._by_type.get(event_type)
        if not versions:
            raise UnknownEventTypeError(event_type, None, self.event_types())
        return [versions[number] for number in sorted(versions)]

    def event_types(self) -> list[str]:
        """The type names, sorted."""
        return sorted(self._by_type)

    def __iter__(self) -> Iterator[type[Event]]:
        """Every class, by type name and then by version."""
        for event_type in self.event_types():
            yield from self.versions(event_type)

    def __len__(self) -> int:
        """The number of classes (versions over all types)."""
        return sum(len(versions) for versions in self._by_type.values())


# Listed by hand rather than collected from Event subclasses: adding an event type to the bus is
# a reviewed decision, and test-only classes must never leak in.
CATALOG = Catalog(
    [AddressChanged, PersonDiedV1, PersonDied, VehicleOwnershipChangedV1, VehicleOwnershipChanged]
)
