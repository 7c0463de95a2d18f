"""Everything `bus enforce` wires together: state from policy, keys and subscriptions; the loop; and
the state watcher (state_watcher.py), which swaps in a new state between batches when anything
changes, and pauses the loop while the state is not current.

The enforcer runs as its own principal and creates no topic (but its journals) and no ACL: the
operator does (`bus topics provision`, `bus acl sync --watch`). At start it waits, saying so every
few seconds, until the state, ingress, audit and quarantine topics exist: waiting rather than
failing, because the enforcer and the operator's watch start together (a deployment, a test) and a
few seconds' head start of either must not take a restart; a typo in a topic name shows in the
log line naming the missing topics. A test may pass the operator's
full setup (`broker_setup=KafkaBrokerSetup(...)`, with the admin's connection) to run the
enforcer as before, creating topics and syncing ACLs itself."""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bus.control.broker_setup import EnforcerBrokerSetup, ReadOnlyBrokerSetup
from bus.control.retention import RetentionSettings
from bus.control.state_reading import BusStateSource, StateTopics
from bus.control.subscriptions import subscription_key
from bus.control.topology import ingress_topics
from bus.enforcer.backoff import Backoff
from bus.enforcer.health import EnforcerHealth
from bus.enforcer.interest_markers import InterestMarkers
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.seen_journal import SeenEventsConfig
from bus.enforcer.service import Enforcer
from bus.enforcer.state_watcher import StateWatcher, WatcherTiming
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import INGRESS_PREFIX, INTEREST_PREFIX, ingress_topic
from bus.keys import KeyStore
from bus.keys.keystore import PUBLIC_SUFFIX, public_key_from_pem
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot
from bus.record.pseudonyms import Pseudonymizer, ensure_pseudonym_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnforcerConfig:
    """What `bus enforce` is told: where policy, keys and the pseudonym key are, and its timing.

    Parameters:
        policy_dir: a policy directory to follow instead of the bus's policy topic.
        key_dir: extra public keys (`<agency>.pub.pem`) besides those in the policy set.
        pseudonym_key_file: the HMAC key for pseudonyms, created on first start.
        group: the enforcer's consumer group.
        duplicate_horizon: how far back a republished event is caught as DUPLICATE_EVENT.
        state_topics: the policy topic and subscriptions registry to follow (the bus's own).
        ingress_prefix: the ingress topics to read are this prefix and the event type (the bus's).
        retention: how long the bus's topics keep data (BUS_RETENTION_* variables).
        The intervals are the state watcher's (WatcherTiming); see the notes beside each.
    """

    # None: follow the policy sets that `bus policy apply` publishes on the bus (the normal case).
    policy_dir: Path | None
    key_dir: Path | None
    pseudonym_key_file: Path
    group: str = "bus-enforcer"
    # This worker's name in the group (its transactional id's suffix); the host's name if None.
    instance: str | None = None
    reload_interval_s: float = 5.0
    # Without a successful refresh for this long, consumption pauses until one succeeds.
    staleness_limit_s: float = 300.0
    # ACLs are re-synced at least this often: a grant past valid_until loses its READ.
    acl_resync_interval_s: float = 30.0
    # A refresh that has not finished by then (e.g. the broker went away mid-read) has failed.
    refresh_timeout_s: float = 60.0
    # How far back a republished (source, event id) is caught as DUPLICATE_EVENT.
    duplicate_horizon: SeenEventsConfig = field(default_factory=SeenEventsConfig)
    state_topics: StateTopics = field(default_factory=StateTopics)
    ingress_prefix: str = INGRESS_PREFIX
    # The interest marker topics to read are this prefix, the consumer and the purpose (the bus's).
    interest_prefix: str = INTEREST_PREFIX
    retention: RetentionSettings = field(default_factory=RetentionSettings)

    def timing(self) -> WatcherTiming:
        """The state watcher's timing from this configuration (its retry times as defaulted)."""
        return WatcherTiming(
            reload_interval_s=self.reload_interval_s,
            acl_resync_interval_s=self.acl_resync_interval_s,
            staleness_limit_s=self.staleness_limit_s,
            refresh_timeout_s=self.refresh_timeout_s,
        )


def key_store(snapshot: Snapshot, key_dir: Path | None) -> KeyStore:
    """The agencies' public keys in the policy set, and those in `key_dir` if it exists."""
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
    snapshot: Snapshot,
    config: EnforcerConfig,
    subs: Iterable[Subscription],
    secret: bytes,
    interest: InterestMarkers | None = None,
) -> EnforcerState:
    """The enforcer's state from a policy snapshot and the subscriptions in force: keys, the
    subscriptions by event type in a fixed order, pseudonyms under `secret`, and the interest
    markers the loop keeps."""
    by_type: dict[str, list[Subscription]] = defaultdict(list)
    for s in sorted(subs, key=subscription_key):
        by_type[s.event_type].append(s)
    return EnforcerState(
        snapshot=snapshot,
        keys=key_store(snapshot, config.key_dir),
        subscriptions={t: tuple(v) for t, v in by_type.items()},
        pseudonyms=Pseudonymizer(secret),
        ingress_topic_of=partial(ingress_topic, prefix=config.ingress_prefix),
        interest=interest,
    )


async def run_enforcer(
    connection: KafkaConnection,
    config: EnforcerConfig,
    stop: asyncio.Event,
    metrics: EnforcerMetrics | None = None,
    health: EnforcerHealth | None = None,
    broker_setup: EnforcerBrokerSetup | None = None,
) -> None:
    """Until `stop`. Starts once the topics it reads and writes exist and the first state is read
    (waiting, with a logged reason, until then); afterwards the watcher keeps the state current and
    the enforcer pauses whenever it is not. `broker_setup`: by default the enforcer's read-only
    one (creates nothing; see the module docstring)."""
    setup = broker_setup or ReadOnlyBrokerSetup(KafkaAdmin(connection))
    if not await _topics_exist(setup, config, stop):
        return
    secret = ensure_pseudonym_key(config.pseudonym_key_file)
    interest = InterestMarkers(config.interest_prefix)
    watcher = StateWatcher(
        BusStateSource(connection, config.policy_dir, config.state_topics),
        setup,
        lambda reading: build_state(
            reading.snapshot, config, reading.subscriptions, secret, interest
        ),
        config.timing(),
        health or EnforcerHealth(),
    )
    if not await watcher.first_state(stop):
        return
    watching = watcher.start(stop)
    enforcer = Enforcer(
        connection,
        ingress_topics(prefix=config.ingress_prefix),
        watcher.current,
        group=config.group,
        instance=config.instance,
        metrics=metrics,
        seen_events=config.duplicate_horizon,
        may_proceed=watcher.may_proceed,
        interest=interest,
    )
    try:
        await enforcer.run(stop)
    finally:
        stop.set()
        await watching


async def _topics_exist(
    setup: EnforcerBrokerSetup, config: EnforcerConfig, stop: asyncio.Event
) -> bool:
    """Wait until none of the topics the enforcer needs from its start is missing (retrying with
    backoff up to the reload interval, a log line each time) or `stop`; returns whether they exist."""
    backoff = Backoff(1.0, max(1.0, config.reload_interval_s))
    attempts = 0
    while not stop.is_set():
        try:
            missing = await asyncio.to_thread(
                setup.missing_base_topics, config.state_topics, config.ingress_prefix
            )
        except Exception as exc:  # the broker may be starting too: retried like a missing topic
            missing, reason = [], f"{type(exc).__name__}: {exc}"
        else:
            if not missing:
                if attempts:
                    log.info("the topics the enforcer needs exist now: starting")
                return True
            reason = (
                f"missing topics {', '.join(missing)}: the operator creates them "
                "(`bus topics provision`, or `bus acl sync --watch` running)"
            )
        attempts += 1
        log.error("the enforcer cannot start yet, waiting: %s", reason)
        try:
            await asyncio.wait_for(stop.wait(), backoff.delay(attempts))
        except TimeoutError:
            continue
    return False
