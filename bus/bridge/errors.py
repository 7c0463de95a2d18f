"""Errors of the webhook bridge and its reference receiver."""

from bus.errors import BusError


class BridgeError(BusError):
    """Root of the webhook bridge's errors."""
