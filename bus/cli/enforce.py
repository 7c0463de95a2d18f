"""`bus enforce` (`bus acl sync` is in bus/cli/acl.py)."""

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry

from bus.cli.signals import stop_on_signals
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.runtime import EnforcerConfig, run_enforcer
from bus.kafka import broker
from bus.kafka.settings import load_kafka_settings
from bus.logs import LogFormat, configure_logging
from bus.metrics_endpoint import serve_metrics
from bus.paths import default_state_dir

FollowedPolicy = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Enforce this policy directory. Default: the set `bus policy apply` published.",
    ),
]
KeyDir = Annotated[
    Path | None,
    typer.Option(
        "--keys", help="Extra agency public keys (<agency>.pub.pem). Default: var/keys/public."
    ),
]

MetricsPort = Annotated[
    int, typer.Option(help="Serve Prometheus /metrics on 127.0.0.1:PORT (0: off).")
]


def enforce(
    policy: FollowedPolicy = None,
    keys: KeyDir = None,
    group: str = "bus-enforcer",
    metrics_port: MetricsPort = 9464,
    log_format: Annotated[
        LogFormat,
        typer.Option(help="json: one object per line, with event_id; text: for a terminal."),
    ] = LogFormat.JSON,
    debug: Annotated[
        bool, typer.Option(help="Log every decision (event id, consumer, outcome).")
    ] = False,
) -> None:
    """Run the enforcer until SIGTERM or Ctrl-C; the open transaction finishes or aborts, never half."""
    configure_logging(log_format, logging.DEBUG if debug else logging.INFO)
    state = default_state_dir() / "keys"
    config = EnforcerConfig(
        policy_dir=policy,
        key_dir=keys or state / "public",
        pseudonym_key_file=state / "pseudonym.key",
        group=group,
    )
    connection = broker.admin_connection(load_kafka_settings())
    registry = CollectorRegistry()
    metrics = EnforcerMetrics(registry)
    if metrics_port:
        serve_metrics(metrics_port, registry)

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_enforcer(connection, config, stop, metrics)

    asyncio.run(main())
    typer.echo(f"enforcer stopped at {datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z")
