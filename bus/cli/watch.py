"""`bus watch`: the oversight watch over the audit topic (bus/watch), as a service."""

import logging
from pathlib import Path
from typing import Annotated

import faust
import typer
from prometheus_client import CollectorRegistry

from bus.cli.params import ProfileOption, check_topic, topic_name
from bus.control.service_principals import WATCH_APP_ID
from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.profile import load_profile
from bus.kafka.topics import ALERTS_TOPIC, AUDIT_TOPIC
from bus.util.logs import LogFormat, configure_logging
from bus.util.metrics_endpoint import serve_metrics
from bus.util.paths import PROJECT_ROOT, default_state_dir
from bus.util.shown_values import shown
from bus.watch.app import WatchOptions, build_app, changelog_topics
from bus.watch.metrics import WatchMetrics
from bus.watch.thresholds import load_thresholds

log = logging.getLogger("bus.watch")
WATCH_ROLE = "watch"
METRICS_PORT = 9467  # the enforcer's is 9464, the indexer's 9465, the audit API's 9466
DEFAULT_THRESHOLDS = PROJECT_ROOT / "policies" / "reference" / "watch.yaml"


def _check_app_id(value: str) -> str:
    if value != WATCH_APP_ID and not value.startswith(f"{WATCH_APP_ID}-"):
        raise ConfigError(
            f"{shown(value)}: must be {WATCH_APP_ID} or {WATCH_APP_ID}-NAME (the watch's ACLs "
            "cover that prefix only)"
        )
    return check_topic(value)  # it prefixes the changelog topics' names


def watch_app_id(value: str | None) -> str | None:
    """The --app-id callback: refused before anything runs."""
    if value is None:
        return None
    try:
        return _check_app_id(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def watch(
    thresholds: Annotated[
        Path,
        typer.Option(
            help="The rules' thresholds (YAML, each key explained in the reference file)."
        ),
    ] = DEFAULT_THRESHOLDS,
    audit_topic: Annotated[
        str, typer.Option(help="The audit topic to watch.", callback=topic_name)
    ] = AUDIT_TOPIC,
    alerts_topic: Annotated[
        str, typer.Option(help="Where alerts go (compacted).", callback=topic_name)
    ] = ALERTS_TOPIC,
    app_id: Annotated[
        str,
        typer.Option(
            help="Consumer group and changelog prefix: bus-watch, or bus-watch-NAME for a second "
            "installation on the same broker (its ACLs cover that prefix).",
            callback=watch_app_id,
        ),
    ] = WATCH_APP_ID,
    metrics_port: Annotated[
        int,
        typer.Option(
            min=0, max=65_535, help="Serve Prometheus /metrics on 127.0.0.1:PORT; 0: off."
        ),
    ] = METRICS_PORT,
    log_format: Annotated[LogFormat, typer.Option(help="json or text.")] = LogFormat.JSON,
    profile: ProfileOption = None,
) -> None:
    """Watch every decision on the audit topic and raise alerts to the alerts topic when the
    figures look like misuse: bulk pulling, one person's data spread wide or denied again and
    again, a consumer probing, a burst of quarantined events, a silent producer. Windows survive
    a restart (changelog-backed tables). Runs as its own user `bus-watch` (READ on the audit
    topic, WRITE on the alerts topic, its own group and changelogs), from its connection profile.
    One instance per installation. SIGTERM or Ctrl-C: commits and stops."""
    configure_logging(log_format)
    for chatty in (
        "faust",
        "mode",
        "aiokafka",
        "bus.watch.app",
        "bus.watch.read_committed",
        "bus.watch.delivered",
    ):
        # faust names each service's logger after its module: one line per start and stop.
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # A warning per full producer buffer while catching up (hundreds a minute): the backlog shows
    # in bus_watch_record_age_seconds instead.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    if app_id != WATCH_APP_ID and not app_id.startswith(f"{WATCH_APP_ID}-"):
        raise ConfigError(
            f"--app-id {app_id}: must be {WATCH_APP_ID} or {WATCH_APP_ID}-NAME (its ACLs)"
        )
    rules = load_thresholds(thresholds)  # refused before anything connects
    connection = load_profile(WATCH_ROLE, profile)
    admin = KafkaAdmin(connection)
    missing = sorted({audit_topic, alerts_topic} - admin.list_topics())
    if missing:
        raise ConfigError(
            f"{', '.join(missing)}: no such topic (or the watch may not see it); the operator "
            "creates the bus's topics (`bus topics provision`) and grants the watch its ACLs"
        )
    partitions = admin.partition_count(audit_topic)
    options = WatchOptions(
        app_id=app_id,
        audit_topic=audit_topic,
        alerts_topic=alerts_topic,
        partitions=partitions,
        data_dir=str(default_state_dir() / "watch" / app_id),
    )
    for topic, config in changelog_topics(options, rules).items():
        if admin.ensure_topics([topic], partitions=partitions, config=config):
            log.info("changelog topic created", extra={"topic": topic})
        elif admin.partition_count(topic) != partitions:
            raise ConfigError(
                f"{topic} has {admin.partition_count(topic)} partition(s), {audit_topic} "
                f"{partitions}: the audit topic grew; delete the watch's changelogs (its windows "
                "start again empty) or run it under a new --app-id"
            )
    Path(options.data_dir).mkdir(parents=True, exist_ok=True)
    metrics = None
    if metrics_port:
        registry = CollectorRegistry()
        metrics = WatchMetrics(registry)
        serve_metrics(metrics_port, registry)
    app = build_app(options, connection, rules, metrics)
    log.info(
        "watching",
        extra={"audit_topic": audit_topic, "alerts_topic": alerts_topic, "app_id": app_id},
    )
    # mode's Worker runs the loop, stops gracefully on SIGTERM and SIGINT (faust commits what it
    # processed), and exits; our logging stays as configured.
    faust.Worker(app, quiet=True, override_logging=False).execute_from_commandline()
