"""The typed event catalogue: every event type the bus carries, its versions and its fields."""

from bus.catalog.compatibility import Incompatibility, check_catalog, format_report
from bus.catalog.errors import CatalogError, UnknownEventTypeError
from bus.catalog.event import Event
from bus.catalog.fields import DataClass, DocumentedModel, data_field
from bus.catalog.registry import CATALOG, Catalog

__all__ = [
    "CATALOG",
    "Catalog",
    "CatalogError",
    "DataClass",
    "DocumentedModel",
    "Event",
    "Incompatibility",
    "UnknownEventTypeError",
    "check_catalog",
    "data_field",
    "format_report",
]
