"""The bridge's own Ed25519 key, which signs every POST (webhook_signature.py): an agency's bridge
has one pair, kept apart from its event signing key, as the two prove different things (the event
is the producer's; the request comes from this agency's bridge).

The file names never end in `.pub.pem`: a bridge key copied into a producers' key directory must
not be taken for a producer's key.
"""

from pathlib import Path

from bus.errors import ConfigError
from bus.keys import AgencySigningKey
from bus.keys.keystore import public_key_from_pem
from bus.keys.signature_check import SignatureCheck
from bus.util.paths import default_state_dir
from bus.util.private_files import create_private, make_private_dirs

PRIVATE_SUFFIX = ".bridge-key.pem"
PUBLIC_SUFFIX = ".bridge-public.pem"


def default_key_dir() -> Path:
    """Where `bus bridge keygen` writes by default: var/bridge."""
    return default_state_dir() / "bridge"


def key_paths(agency: str, directory: Path) -> tuple[Path, Path]:
    """The private and the public key file of `agency`'s bridge in `directory`."""
    return directory / f"{agency}{PRIVATE_SUFFIX}", directory / f"{agency}{PUBLIC_SUFFIX}"


def generate_bridge_key(agency: str, directory: Path) -> tuple[Path, Path]:
    """Write a new key pair for `agency`'s bridge (private 0600); refuse to overwrite one."""
    private_path, public_path = key_paths(agency, directory)
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(f"{path} exists already; move it away to make a new key (rotation)")
    key = AgencySigningKey.generate(agency)
    try:
        create_private(private_path, key.private_pem())
        make_private_dirs(directory)
        public_path.write_bytes(key.public_pem())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{directory}: cannot write the bridge key there ({exc})") from None
    return private_path, public_path


def load_bridge_key(agency: str, path: Path) -> AgencySigningKey:
    """`agency`'s bridge key from `path`; ConfigError (naming the path) if it is not one."""
    if not path.is_file():
        raise ConfigError(f"{path}: no bridge key; make one with `bus bridge keygen {agency}`")
    return AgencySigningKey.from_pem_file(agency, path)


def load_bridge_public_key(path: Path) -> SignatureCheck:
    """The check of signatures by the bridge whose public key PEM is at `path`."""
    try:
        pem = path.read_bytes()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the bridge's public key ({exc})") from None
    try:
        # The agency id only labels the key here; the receiver trusts this one key.
        return public_key_from_pem("bridge", pem).check_signature
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
