"""The audit key: Ed25519, held by the indexer, signs checkpoints of the hash chain.

It lives apart from the agencies' keys (an agency key directory is trusted for events; this key
must never sign an event), in var/audit/keys by default (`--key-dir`): inside the store's own
folder var/audit, readable by whoever runs the indexer. So the key's place protects nothing
against someone who can read the store's files: they can sign. What does protect is outside the
store: the witness topic, which holds every checkpoint the indexer published (bus/audit/witness.py),
and the pinned public key, which catches a key swapped for another.

The public key is *pinned* outside the key's directory and outside the store's folder
($BUS_AUDIT_PINNED_KEY, by default var/trust/audit.pub.pem): the indexer writes the pin on its
first start and refuses to run with a key that does not match it, and `bus audit verify` trusts
only the pinned key. A pin that is missing while the store already holds checkpoints is not
written again silently (it may have been deleted along with a swapped key): the indexer refuses
until an operator pins on purpose (`bus audit index --pin`), and even then only the key the
store's checkpoints were signed with. In production the pin belongs on a path the store's
operators cannot write (configuration management, a read-only mount).

One key per store: re-pinning another key makes every older checkpoint KEY_MISMATCH (rotation is
not supported yet; README, "The audit trail").
"""

import os
from dataclasses import dataclass
from pathlib import Path

from bus.errors import ConfigError
from bus.keys import AgencySigningKey
from bus.keys.keystore import AgencyPublicKey, public_key_from_pem
from bus.util.paths import default_state_dir
from bus.util.private_files import create_private

KEY_NAME = "audit"
PINNED_KEY_ENV = "BUS_AUDIT_PINNED_KEY"


@dataclass(frozen=True)
class AuditKeyFiles:
    """Where the audit key's two PEM files are: the private key and its public half."""

    private: Path
    public: Path

    @classmethod
    def default(cls) -> "AuditKeyFiles":
        """The files in `<state>/audit/keys`."""
        return cls.in_directory(default_state_dir() / "audit" / "keys")

    @classmethod
    def in_directory(cls, directory: Path) -> "AuditKeyFiles":
        """`audit.key.pem` and `audit.pub.pem` in `directory`."""
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
    """The public key beside the private one (not the pinned one); ConfigError if missing."""
    return _read_public_key(files.public, "it is written when `bus audit index` first runs")


def _read_public_key(path: Path, when_missing: str) -> AgencyPublicKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{path}: the audit public key is missing ({exc.strerror}); {when_missing}"
        ) from exc
    try:
        return public_key_from_pem(KEY_NAME, pem)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def default_pinned_key() -> Path:
    """$BUS_AUDIT_PINNED_KEY, else var/trust/audit.pub.pem (outside var/audit, the store's tree)."""
    configured = os.environ.get(PINNED_KEY_ENV)
    return Path(configured) if configured else default_state_dir() / "trust" / "audit.pub.pem"


@dataclass(frozen=True)
class StoreSigned:
    """What the store says about the key: where its files are, and who signed its checkpoints."""

    directory: Path | None  # the folder of a SQLite store; None for PostgreSQL
    key_id: str | None  # the key id of its newest checkpoint; None: it has none yet


def pin_audit_key(
    key: AgencySigningKey,
    pinned: Path,
    files: AuditKeyFiles,
    store: StoreSigned | None = None,
    pin_on_purpose: bool = False,
) -> bool:
    """Pin `key`'s public half at `pinned` if nothing is pinned yet (True: pinned now); refuse a
    key that differs from the pinned one. With `store`: refuse a pin inside its folder, and a
    pin missing although the store holds checkpoints unless `pin_on_purpose` (and then only the
    key that signed them)."""
    _refuse_beside_the_key(pinned, files)
    if store is not None:
        refuse_inside_the_store(pinned, store.directory)
    if not pinned.exists():
        if store is not None and store.key_id is not None:
            _refuse_a_lost_pin(key, pinned, store.key_id, pin_on_purpose)
        pinned.parent.mkdir(parents=True, exist_ok=True)
        try:
            with pinned.open("xb") as out:
                out.write(key.public_pem())
        except FileExistsError:
            pass  # another process pinned first: it must be the same key, checked below
        else:
            return True
    if _read_pinned(pinned).kid != key.kid:
        raise ConfigError(
            f"the audit key in {files.private.parent} does not match the public key pinned at "
            f"{pinned}: refusing to sign with it. If the key was replaced on purpose, pin its "
            f"public key there ({files.public}); otherwise the key was swapped"
        )
    return False


def _refuse_a_lost_pin(
    key: AgencySigningKey, pinned: Path, signed_by: str, on_purpose: bool
) -> None:
    if not on_purpose:
        raise ConfigError(
            f"nothing is pinned at {pinned}, but the audit store already holds checkpoints "
            f"signed by key {signed_by}: a lost pin is not written again silently (it may have "
            "been deleted together with a swapped key). Compare that key id with your records "
            "of the audit key, then pin it once on purpose: bus audit index --pin"
        )
    if key.kid != signed_by:
        raise ConfigError(
            f"the audit store's checkpoints are signed by key {signed_by}, not by this audit key "
            f"{key.kid}: refusing to pin a key that did not sign them"
        )


def refuse_inside_the_store(pinned: Path, store_directory: Path | None) -> None:
    """A pin in the store's folder is rewritten by whoever rewrites the store."""
    if store_directory is not None and pinned.resolve().is_relative_to(store_directory.resolve()):
        raise ConfigError(
            f"{pinned}: the pinned audit key must live outside the audit store's folder "
            f"{store_directory}"
        )


def load_pinned_key(
    pinned: Path, files: AuditKeyFiles | None = None, store_directory: Path | None = None
) -> AgencyPublicKey:
    """The pinned audit public key; refused if it is missing or lies beside the private key or
    inside the store's folder."""
    if files is not None:
        _refuse_beside_the_key(pinned, files)
    refuse_inside_the_store(pinned, store_directory)
    if not pinned.exists():
        raise ConfigError(
            f"no audit public key is pinned at {pinned}: verification trusts only a key pinned "
            f"outside the store. `bus audit index` pins its key there on first start; or copy the "
            f"audit public key there yourself (--pinned-key PATH or ${PINNED_KEY_ENV})"
        )
    return _read_pinned(pinned)


def _read_pinned(pinned: Path) -> AgencyPublicKey:
    return _read_public_key(pinned, "pin the audit public key there")


def _refuse_beside_the_key(pinned: Path, files: AuditKeyFiles) -> None:
    """A pin next to the private key protects nothing: whoever swaps one swaps the other."""
    if pinned.resolve().is_relative_to(files.private.parent.resolve()):
        raise ConfigError(
            f"{pinned}: the pinned audit key must live outside the audit key's directory "
            f"{files.private.parent}"
        )
