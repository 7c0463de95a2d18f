"""Public keys of the agencies, looked up by key id (JWK thumbprint) when a token is verified."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.signing import VerifyKey

from bus.errors import ConfigError
from bus.keys.agency_key import check_agency_id
from bus.keys.signature_check import SignatureCheck, signature_check
from bus.keys.thumbprint import jwk_thumbprint

PUBLIC_SUFFIX = ".pub.pem"


@dataclass(frozen=True)
class AgencyPublicKey:
    """One public key of an agency, under its key id (JWK thumbprint)."""

    agency_id: str
    kid: str
    verify_key: VerifyKey = field(repr=False)
    # The same key as the per-event check (native when built): exactly the signatures it accepts.
    check_signature: SignatureCheck = field(repr=False, compare=False)


class KeyStore:
    """Immutable map kid → agency public key. Several keys per agency allow rotation.

    Verifiers (the enforcer, the consumer SDK) look up a token's `kid` here. Build it with
    `from_directory` or `from_pems`.

    Parameters:
        keys: the public keys; a later key with the same kid replaces an earlier one.
    """

    def __init__(self, keys: Iterable[AgencyPublicKey]) -> None:
        self._by_kid: Mapping[str, AgencyPublicKey] = {key.kid: key for key in keys}

    def get(self, kid: str) -> AgencyPublicKey | None:
        """The key with id `kid`, or None if the store has none."""
        return self._by_kid.get(kid)

    def __len__(self) -> int:
        return len(self._by_kid)

    @classmethod
    def from_pems(cls, pems: Iterable[tuple[str, bytes]]) -> "KeyStore":
        """From (agency id, public key PEM) pairs; ConfigError for a key that is not Ed25519."""
        return cls(public_key_from_pem(agency, pem) for agency, pem in pems)

    @classmethod
    def from_directory(cls, directory: Path) -> "KeyStore":
        """Every `<agency>[.<label>].pub.pem` in the directory; the agency id is the first name part."""
        if not directory.is_dir():
            raise ConfigError(f"{directory}: public key directory not found")
        keys = []
        for path in sorted(directory.glob(f"*{PUBLIC_SUFFIX}")):
            agency = path.name.split(".")[0]
            try:
                keys.append(public_key_from_pem(agency, path.read_bytes()))
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
        return cls(keys)


def public_key_from_pem(agency_id: str, pem: bytes) -> AgencyPublicKey:
    """`agency_id`'s key from a SubjectPublicKeyInfo PEM; ConfigError unless it is Ed25519 (or the
    agency id is not valid)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ConfigError(f"not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"an Ed25519 public key is needed, found {type(key).__name__}")
    raw = key.public_bytes_raw()
    return AgencyPublicKey(
        check_agency_id(agency_id), jwk_thumbprint(raw), VerifyKey(raw), signature_check(raw)
    )
