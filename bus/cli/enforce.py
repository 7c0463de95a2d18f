"""`bus enforce` (`bus acl sync` is in bus/cli/acl.py)."""

import logging
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.params import (
    MetricsPortOption,
    PolicyTopicOption,
    ProfileOption,
    SubscriptionsTopicOption,
    consumer_group,
    topic_name,
)
from bus.control.retention import load_retention_settings
from bus.control.service_principals import ENFORCER_GROUP, enforcer_group_allowed
from bus.control.state_reading import StateTopics
from bus.enforcer.runtime import EnforcerConfig
from bus.enforcer.seen_journal import SeenEventsConfig
from bus.enforcer.service import default_instance
from bus.enforcer.workers import run_worker, supervise
from bus.enforcer.workers import workers as enforcer_workers
from bus.errors import ConfigError
from bus.kafka.profile import load_profile
from bus.kafka.topics import INGRESS_PREFIX, POLICY_TOPIC, SUBSCRIPTIONS_TOPIC
from bus.policy.loader import load_policy_set
from bus.record.pseudonyms import default_pseudonym_key_file
from bus.util.logs import LogFormat, configure_logging
from bus.util.paths import default_state_dir

INSTANCE_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
FollowedPolicy = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Enforce this policy directory. Default: the set `bus policy apply` published.",
        exists=True,
        file_okay=False,
    ),
]
KeyDir = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        help="Extra agency public keys (<agency>.pub.pem). Default: var/keys/public.",
        exists=True,
        file_okay=False,
    ),
]


def enforce(
    policy: FollowedPolicy = None,
    keys: KeyDir = None,
    group: Annotated[
        str,
        typer.Option(
            callback=consumer_group,
            help="The consumer group, also the prefix of its transactional ids and journals: "
            f"{ENFORCER_GROUP} or {ENFORCER_GROUP}-<name> (what the enforcer's ACLs cover).",
        ),
    ] = ENFORCER_GROUP,
    metrics_port: MetricsPortOption = 9464,
    log_format: Annotated[
        LogFormat,
        typer.Option(help="json: one object per line, with event_id; text: for a terminal."),
    ] = LogFormat.JSON,
    debug: Annotated[
        bool, typer.Option(help="Log every decision (event id, consumer, outcome).")
    ] = False,
    staleness_limit: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=10,
            max=86400,
            help="Pause consumption when policy and subscriptions have not been refreshed for "
            "this long (events wait in Kafka; /healthz turns 503).",
        ),
    ] = 300.0,
    duplicate_horizon_ids: Annotated[
        int,
        typer.Option(
            metavar="COUNT",
            min=1,
            max=10_000_000,
            help="A republished event is quarantined (DUPLICATE_EVENT) while at most this many "
            "others were accepted on its input partition since; about 115 bytes each in memory.",
        ),
    ] = SeenEventsConfig.capacity,
    duplicate_horizon_days: Annotated[
        float,
        typer.Option(
            metavar="DAYS",
            min=0.01,
            max=3650,
            help="A republished event is quarantined (DUPLICATE_EVENT) only within this many days "
            "of the first (the retention of the enforcer's journal topics).",
        ),
    ] = SeenEventsConfig.max_age.total_seconds() / 86400,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    subscriptions_topic: SubscriptionsTopicOption = SUBSCRIPTIONS_TOPIC,
    ingress_prefix: Annotated[
        str,
        typer.Option(
            metavar="PREFIX",
            # Hidden: for tests on a shared broker. Producers' ACLs and the SDK stay on
            # bus.ingress., so in production an enforcer on another prefix would receive nothing.
            help="Read the ingress topics named PREFIX<event type> (tests only).",
            callback=topic_name,
            hidden=True,
        ),
    ] = INGRESS_PREFIX,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Enforcer processes in the group on this host (default: one per core). The "
            "ingress topics' partitions (6 each by default) bound how many can be busy; worker i "
            "serves its metrics on --metrics-port + i.",
        ),
    ] = os.cpu_count() or 1,
    instance: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="This host's name in the group: worker i is NAME.w<i>, its transactional id "
            "<group>.tx.NAME.w<i>. Unique per host and stable across restarts (a restart then "
            "settles what the crashed worker left open at once). Default: the host name.",
        ),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Run the enforcer until SIGTERM or Ctrl-C; the open transaction finishes or aborts, never half.

    As the bus-enforcer principal (its connection profile): it creates no topic and no ACL; the
    operator does (`bus topics provision` once, `bus acl sync --watch` always)."""
    if not enforcer_group_allowed(group):
        # Its ACLs cover these groups (and their transactional ids and journals) only: another
        # would fail at its first join, far from the cause.
        raise ConfigError(
            f"--group {group}: the enforcer's principal may use only the group {ENFORCER_GROUP} "
            f"or {ENFORCER_GROUP}-<name> (its ACLs cover those; see "
            "bus/control/service_principals.py)"
        )
    if policy is not None:
        load_policy_set(policy)  # a broken set is refused before anything starts
    configure_logging(log_format, logging.DEBUG if debug else logging.INFO)
    if instance is not None and not INSTANCE_NAME.fullmatch(instance):
        raise ConfigError(
            f"--instance {instance!r}: use letters, digits, '.', '_' and '-' only (it becomes "
            "part of a transactional id)"
        )
    state = default_state_dir() / "keys"
    config = EnforcerConfig(
        policy_dir=policy,
        key_dir=keys or state / "public",
        pseudonym_key_file=default_pseudonym_key_file(),
        group=group,
        staleness_limit_s=staleness_limit,
        duplicate_horizon=SeenEventsConfig(
            duplicate_horizon_ids, timedelta(days=duplicate_horizon_days)
        ),
        state_topics=StateTopics(policy_topic, subscriptions_topic),
        ingress_prefix=ingress_prefix,
        retention=load_retention_settings(),  # shared with `bus topics reconcile`: one rule
    )
    connection = load_profile("enforcer", profile)
    level = logging.DEBUG if debug else logging.INFO
    all_workers = enforcer_workers(
        workers,
        connection,
        config,
        metrics_port,
        log_format,
        level,
        instance or default_instance(),
    )
    if workers == 1:
        run_worker(all_workers[0])
    else:
        supervise(all_workers)
    typer.echo(f"enforcer stopped at {datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z")
