"""What `bus audit verify` and `reconcile` trust: the audit key pinned outside the store, and the
witness topic the indexer publishes its checkpoints to."""

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bus.audit.audit_key import AuditKeyFiles, default_pinned_key, load_pinned_key
from bus.audit.indexer_access import FRESH_USER_WAIT_S
from bus.audit.store.connect import store_directory
from bus.audit.witness import Witness, read_witness
from bus.cli.params import topic_name
from bus.errors import ConfigError
from bus.kafka.connection import KafkaConnection
from bus.keys.keystore import AgencyPublicKey

AuditTopic = Annotated[
    str, typer.Option(help="The audit topic the store is filled from.", callback=topic_name)
]
PinnedKey = Annotated[
    Path | None,
    typer.Option(
        help="The audit public key pinned outside the store. Default: $BUS_AUDIT_PINNED_KEY or "
        "var/trust/audit.pub.pem (written by `bus audit index` on first start)."
    ),
]
KeyDir = Annotated[
    Path | None,
    typer.Option(
        help="Audit key folder (the pinned key must lie outside it). Default: var/audit/keys."
    ),
]
Offline = Annotated[
    bool,
    typer.Option(
        "--offline", help="Without the broker: the store's own checkpoints only (and says so)."
    ),
]
# One rule everywhere (index, verify, reconcile, serve): the witness of --topic T is T.checkpoints.
CheckpointTopicOf = Annotated[
    str | None,
    typer.Option(
        "--checkpoint-topic",
        help="The witness topic. Default: the audit topic + .checkpoints.",
        callback=topic_name,
    ),
]


def pinned_public_key(
    pinned: Path | None, key_dir: Path | None = None, store_url: str | None = None
) -> AgencyPublicKey:
    """Refused (ConfigError) when nothing is pinned, or the pin lies beside the key or inside the
    store's folder: a key read from there would vouch for whatever whoever can write the store
    signed with it."""
    files = AuditKeyFiles.in_directory(key_dir) if key_dir else AuditKeyFiles.default()
    try:
        folder = store_directory(store_url) if store_url else None
        return load_pinned_key(pinned or default_pinned_key(), files, folder)
    except (OSError, ValueError) as exc:  # a path that cannot be one (NUL, too long)
        shown = repr(str(pinned)[:120])
        raise ConfigError(f"--pinned-key {shown}: cannot read a key there ({exc})") from exc


def witness_as(connection: KafkaConnection, topic: str, key: AgencyPublicKey) -> Witness:
    """The witness `topic` as of now, read as `connection`'s principal and checked with `key`;
    waits for a principal created just now to reach the broker."""
    return asyncio.run(read_witness(connection, topic, key, wait_s=FRESH_USER_WAIT_S))
