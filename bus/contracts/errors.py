"""Why a contract could not be written."""

from bus.errors import BusError


class ContractError(BusError):
    """No contract for this request: an unknown consumer, one without any grant it could
    subscribe with, or a document the official AsyncAPI schema refuses (a bug of the bus)."""
