"""Agency signing keys (Ed25519) and the store of their public keys."""

from bus.keys.agency_key import AGENCY_ID_PATTERN, AgencySigningKey, generate_key_files
from bus.keys.keystore import AgencyPublicKey, KeyStore

__all__ = [
    "AGENCY_ID_PATTERN",
    "AgencyPublicKey",
    "AgencySigningKey",
    "KeyStore",
    "generate_key_files",
]
