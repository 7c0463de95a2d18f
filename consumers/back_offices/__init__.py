"""Reference back offices: each keeps its own SQLite table of the people it serves, updated from
the bus, holding only the fields its grants release."""

from consumers.back_offices.back_office import BackOffice
from consumers.back_offices.benefits import BENEFITS_AGENCY
from consumers.back_offices.electoral_office import ELECTORAL_OFFICE_MUNICH
from consumers.back_offices.tax_office import TAX_OFFICE_BAVARIA
from consumers.back_offices.vehicle_registry import VEHICLE_REGISTRY

REFERENCE_BACK_OFFICES: tuple[BackOffice, ...] = (
    TAX_OFFICE_BAVARIA,
    BENEFITS_AGENCY,
    VEHICLE_REGISTRY,
    ELECTORAL_OFFICE_MUNICH,
)

__all__ = ["REFERENCE_BACK_OFFICES", "BackOffice"]
