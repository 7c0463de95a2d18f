"""An agency's Ed25519 signing key: generated, written and read as PEM files, used through libsodium.

Files are PEM (PKCS#8 / SubjectPublicKeyInfo, via `cryptography`) so that any tool can read them.
Signing and verifying go through PyNaCl (libsodium): its Ed25519 verify is faster than
`cryptography`'s on OpenSSL (benchmarks/codec.py compares both), and verify sits on every event's
path.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey

from bus.errors import ConfigError
from bus.keys.thumbprint import jwk_thumbprint
from bus.util.private_files import create_private

AGENCY_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def check_agency_id(agency_id: str) -> str:
    """`agency_id` if it matches AGENCY_ID_PATTERN (it names files, topics and principals), else
    ConfigError."""
    if not AGENCY_ID_PATTERN.match(agency_id):
        raise ConfigError(
            f"agency id {agency_id!r}: use 2-63 characters of a-z, 0-9 and '-', starting with a letter"
            " or digit"
        )
    return agency_id


@dataclass(frozen=True)
class AgencySigningKey:
    """The private key an agency signs its events with. Its repr never shows key material.

    Make one with `generate` or `from_pem_file`; the producer SDK signs each event with it.

    Parameters:
        agency_id: the agency the key belongs to (checked by the class methods, not here).
        _key: the libsodium signing key.
    """

    agency_id: str
    _key: SigningKey = field(repr=False)

    @property
    def kid(self) -> str:
        """The key id: the JWK thumbprint of the public key, as tokens name it in `kid`."""
        return jwk_thumbprint(bytes(self._key.verify_key))

    @property
    def public_key_raw(self) -> bytes:
        """The 32 bytes of the Ed25519 public key."""
        return bytes(self._key.verify_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message`."""
        return bytes(self._key.sign(message).signature)

    @classmethod
    def generate(cls, agency_id: str) -> "AgencySigningKey":
        """A new random key for `agency_id` (checked); `generate_key_files` also writes it."""
        return cls(check_agency_id(agency_id), SigningKey.generate())

    @classmethod
    def from_pem_file(cls, agency_id: str, path: Path) -> "AgencySigningKey":
        """Read the unencrypted PKCS#8 PEM Ed25519 key at `path`; ConfigError if it is not one."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a readable PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(
                f"{path}: an Ed25519 private key is needed, found {type(key).__name__}"
            )
        return cls(check_agency_id(agency_id), SigningKey(key.private_bytes_raw()))

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM: keep it in a file only its owner reads."""
        key = Ed25519PrivateKey.from_private_bytes(bytes(self._key))
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM, as KeyStore.from_directory reads it."""
        public = Ed25519PrivateKey.from_private_bytes(bytes(self._key)).public_key()
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def generate_key_files(agency_id: str, private_dir: Path, public_dir: Path) -> tuple[Path, Path]:
    """Write `<agency>.key.pem` (mode 0600) and `<agency>.pub.pem`; refuse to overwrite a key."""
    key = AgencySigningKey.generate(agency_id)
    private_path = private_dir / f"{agency_id}.key.pem"
    public_path = public_dir / f"{agency_id}.pub.pem"
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(f"{path} exists already; move it away to make a new key (rotation)")
    create_private(private_path, key.private_pem())
    public_dir.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(key.public_pem())
    return private_path, public_path
