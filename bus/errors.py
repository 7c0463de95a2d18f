"""One root for every error the bus raises on purpose, so callers can catch `BusError` alone."""


class BusError(Exception):
    """Root of the bus's own errors. The message says what is wrong and what to do."""


class ConfigError(BusError):
    """A setting is missing or invalid; the message names the setting and what is expected."""


class PrerequisiteMissing(BusError):
    """A program the bus needs (Java, Maven) is missing or too old."""


class BrokerError(BusError):
    """The local Kafka broker could not be provisioned, started, reached or stopped."""
