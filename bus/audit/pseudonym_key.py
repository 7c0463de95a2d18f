"""The audit trail's pseudonymiser: the enforcer's HMAC key, read, never made here."""

from pathlib import Path

from bus.enforcer.pseudonyms import Pseudonymizer
from bus.errors import ConfigError
from bus.util.paths import default_state_dir


def default_pseudonym_key_file() -> Path:
    return default_state_dir() / "keys" / "pseudonym.key"


def load_pseudonymizer(path: Path | None = None) -> Pseudonymizer:
    """Missing key: an error, not a new key; a new key would make every query by subject quietly
    find nothing."""
    path = path or default_pseudonym_key_file()
    try:
        return Pseudonymizer(path.read_bytes())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: the pseudonym key is missing; it is the enforcer's (made by its first run), "
            "and queries by subject need the same key"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
