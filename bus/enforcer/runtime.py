"""Everything `bus enforce` wires together: state from policy, keys and subscriptions; topics and
ACLs; the loop; and a watcher that swaps in a new state between batches when anything changes."""

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bus import policy_store, subscriptions
from bus.acls import desired_acls, sync_acls
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.pseudonyms import Pseudonymizer
from bus.enforcer.service import Enforcer
from bus.errors import BusError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.keys import KeyStore
from bus.keys.keystore import PUBLIC_SUFFIX, public_key_from_pem
from bus.private_files import create_private
from bus.topology import (
    ensure_bus_topics,
    ensure_ingress_topics,
    ensure_registry_topics,
    ensure_source_offsets_topics,
    ingress_topics,
)
from policies.facts import Subscription
from policies.loader import load_policy_set
from policies.snapshot import Snapshot, compile_snapshot, empty_snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnforcerConfig:
    # None: follow the policy sets that `bus policy apply` publishes on the bus (the normal case).
    policy_dir: Path | None
    key_dir: Path | None
    pseudonym_key_file: Path
    group: str = "bus-enforcer"
    reload_interval_s: float = 5.0


def pseudonym_key(path: Path) -> bytes:
    """The HMAC key for pseudonyms: created once (0600), kept apart from any data store."""
    if not path.exists():
        create_private(path, secrets.token_bytes(32))
    return path.read_bytes()


def key_store(snapshot: Snapshot, key_dir: Path | None) -> KeyStore:
    keys = [
        public_key_from_pem(a.id, pem.encode())
        for a in snapshot.agencies.values()
        for pem in a.public_keys
    ]
    if key_dir is not None and key_dir.is_dir():
        for path in sorted(key_dir.glob(f"*{PUBLIC_SUFFIX}")):
            keys.append(public_key_from_pem(path.name.split(".")[0], path.read_bytes()))
    return KeyStore(keys)


def build_state(
    snapshot: Snapshot, config: EnforcerConfig, subs: list[Subscription], secret: bytes
) -> EnforcerState:
    by_type: dict[str, list[Subscription]] = defaultdict(list)
    for s in subs:
        by_type[s.event_type].append(s)
    return EnforcerState(
        snapshot=snapshot,
        keys=key_store(snapshot, config.key_dir),
        subscriptions={t: tuple(v) for t, v in by_type.items()},
        pseudonyms=Pseudonymizer(secret),
    )


class StateWatcher:
    """Holds the state in force. A changed policy set or subscription list becomes a new state,
    swapped in whole (the enforcer takes one state per batch); an invalid policy set is refused
    and the old one stays in force."""

    def __init__(
        self, connection: KafkaConnection, admin: KafkaAdmin, config: EnforcerConfig
    ) -> None:
        self._connection, self._admin, self._config = connection, admin, config
        self._secret = pseudonym_key(config.pseudonym_key_file)
        self._state: EnforcerState | None = None

    def current(self) -> EnforcerState:
        assert self._state is not None, "refresh() first"
        return self._state

    async def refresh(self) -> bool:
        """Reload; returns whether the state changed."""
        snapshot = await self._snapshot()
        subs = await subscriptions.load(self._connection)
        old = self._state
        if old is not None and old.snapshot.hash == snapshot.hash and _subs(old) == set(subs):
            return False
        self._state = build_state(snapshot, self._config, subs, self._secret)
        ensure_bus_topics(self._admin, subs)
        producers = {agency for pairs in snapshot.authorities.values() for agency, _ in pairs}
        ensure_source_offsets_topics(self._admin, producers)
        changes = sync_acls(self._admin, desired_acls(snapshot, subs, time.time()))
        log.info(
            "state in force: policy %s, %d subscriptions, ACLs +%d -%d",
            snapshot.hash[:19], len(subs), len(changes.added), len(changes.removed),
        )  # fmt: skip
        return True

    async def _snapshot(self) -> Snapshot:
        if self._config.policy_dir is not None:
            return compile_snapshot(load_policy_set(self._config.policy_dir))
        applied = await policy_store.latest(self._connection)
        return empty_snapshot() if applied is None else compile_snapshot(applied)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self._config.reload_interval_s)
            except TimeoutError:
                try:
                    await self.refresh()
                except BusError as exc:
                    log.error(
                        "new policy or subscriptions refused, the old state stays in force: %s", exc
                    )


async def run_enforcer(
    connection: KafkaConnection,
    config: EnforcerConfig,
    stop: asyncio.Event,
    metrics: EnforcerMetrics | None = None,
) -> None:
    admin = KafkaAdmin(connection)
    ensure_registry_topics(admin)
    policy_store.ensure_policy_topic(admin)
    ensure_ingress_topics(admin)
    watcher = StateWatcher(connection, admin, config)
    await watcher.refresh()
    enforcer = Enforcer(
        connection, ingress_topics(), watcher.current, group=config.group, metrics=metrics
    )
    watching = asyncio.create_task(watcher.watch(stop))
    try:
        await enforcer.run(stop)
    finally:
        stop.set()
        await watching


def _subs(state: EnforcerState) -> set[Subscription]:
    return {s for group in state.subscriptions.values() for s in group}
