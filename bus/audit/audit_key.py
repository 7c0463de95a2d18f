"""The audit key: Ed25519, held by the indexer, signs checkpoints of the hash chain.

It lives apart from the agencies' keys (an agency key directory is trusted for events; this key
must never sign an event) and apart from the store, so whoever can write the store cannot sign.
"""

from dataclasses import dataclass
from pathlib import Path

from bus.errors import ConfigError
from bus.keys import AgencySigningKey
from bus.keys.keystore import AgencyPublicKey, public_key_from_pem
from bus.paths import default_state_dir
from bus.private_files import create_private

KEY_NAME = "audit"


@dataclass(frozen=True)
class AuditKeyFiles:
    private: Path
    public: Path

    @classmethod
    def default(cls) -> "AuditKeyFiles":
        return cls.in_directory(default_state_dir() / "audit" / "keys")

    @classmethod
    def in_directory(cls, directory: Path) -> "AuditKeyFiles":
        return cls(directory / "audit.key.pem", directory / "audit.pub.pem")


def ensure_audit_key(files: AuditKeyFiles) -> AgencySigningKey:
    """The signing key, made on first use (private file 0600, never overwritten)."""
    if not files.private.exists():
        key = AgencySigningKey.generate(KEY_NAME)
        try:
            create_private(files.private, key.private_pem())
        except FileExistsError:
            pass  # another process made it first: use that one
        else:
            files.public.write_bytes(key.public_pem())
    return AgencySigningKey.from_pem_file(KEY_NAME, files.private)


def load_audit_public_key(files: AuditKeyFiles) -> AgencyPublicKey:
    try:
        pem = files.public.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{files.public}: the audit public key is missing ({exc.strerror}); it is written when "
            "`bus audit index` first runs"
        ) from exc
    try:
        return public_key_from_pem(KEY_NAME, pem)
    except ConfigError as exc:
        raise ConfigError(f"{files.public}: {exc}") from exc
