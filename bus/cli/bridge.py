"""`bus bridge webhook AGENCY --url URL`: AGENCY's deliveries, verified, POSTed to a back office
that takes HTTP callbacks; `bus bridge keygen AGENCY`: the bridge's signing key; `bus bridge
receiver`: a reference receiver to develop and test against (docs/bridge.md)."""

import asyncio
import ipaddress
import logging
import math
import sqlite3
import ssl
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import httpx2 as httpx
import typer
import uvicorn
from prometheus_client import CollectorRegistry

from bus.bridge.bridge import DEFAULT_GROUP, WebhookBridge
from bus.bridge.bridge_key import (
    default_key_dir,
    generate_bridge_key,
    key_paths,
    load_bridge_key,
    load_bridge_public_key,
)
from bus.bridge.metrics import BridgeMetrics
from bus.bridge.poster import WebhookPoster
from bus.bridge.receipts import ReceiptStore
from bus.bridge.receiver import receiver_app
from bus.cli.back_office import KeysOption, LogFormatOption
from bus.cli.params import MetricsPortOption, ProfileOption, agency_id, consumer_group
from bus.cli.params import purpose_code as check_purpose
from bus.cli.signals import stop_on_signals
from bus.control.credentials import load_agency_profile
from bus.errors import ConfigError
from bus.keys import KeyStore
from bus.util.logs import LogFormat, configure_logging
from bus.util.metrics_endpoint import serve_metrics
from bus.util.paths import default_state_dir
from consumers.retry import RetryPolicy

app = typer.Typer(help="Deliveries over HTTP, for back offices without a Kafka client.")
log = logging.getLogger(__name__)
_LOOPBACK_NAMES = frozenset({"localhost"})


def _url(value: str | None) -> str | None:
    """An https URL; plain http only to this machine (a receiver behind a local TLS proxy, a
    test), and then with a warning at start."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError as exc:
        raise typer.BadParameter(f"not a URL ({exc})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
        raise typer.BadParameter("an https:// URL with a host (and no user name) is needed")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise typer.BadParameter(
            "plain http:// would send personal data unencrypted; use https:// (only a receiver "
            "on this machine, 127.0.0.1 or localhost, may be reached over http)"
        )
    return value


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in _LOOPBACK_NAMES


def _purposes(values: list[str] | None) -> list[str] | None:
    return None if values is None else [p for v in values if (p := check_purpose(v))]


def _seconds(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and 0.1 <= value <= 600):
        raise typer.BadParameter(f"{value} is not a number of seconds from 0.1 to 600")
    return value


AgencyArgument = Annotated[
    str,
    typer.Argument(help="The consuming agency, whose deliveries these are.", callback=agency_id),
]


@app.command()
def keygen(
    agency: AgencyArgument,
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the pair. Default: var/bridge.", file_okay=False),
    ] = None,
) -> None:
    """Make AGENCY's bridge key pair (Ed25519), which signs every POST. Give the receiver the
    public key; the private key is written (0600), never printed."""
    private_path, public_path = generate_bridge_key(agency, out or default_key_dir())
    typer.echo(f"private key: {private_path} (mode 0600, for `bus bridge webhook` only)")
    typer.echo(f"public key:  {public_path} (give it to the receiver)")


@app.command()
def webhook(
    agency: AgencyArgument,
    url: Annotated[
        str, typer.Option(metavar="URL", help="Where to POST each delivery.", callback=_url)
    ],
    purpose: Annotated[
        list[str],
        typer.Option(
            metavar="CODE", help="A purpose to bridge (repeat for more).", callback=_purposes
        ),
    ],
    key: Annotated[
        Path | None,
        typer.Option(
            help="The bridge's private key. Default: var/bridge/AGENCY.bridge-key.pem.",
            dir_okay=False,
        ),
    ] = None,
    keys: KeysOption = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            help="Trust this CA (PEM) for the receiver's certificate instead of the system's.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for an answer.", callback=_seconds)
    ] = 10.0,
    attempts: Annotated[
        int, typer.Option(min=1, max=100, help="Attempts per delivery before it is dead-lettered.")
    ] = 8,
    max_delay: Annotated[
        float,
        typer.Option(help="The longest wait between attempts, in seconds.", callback=_seconds),
    ] = 30.0,
    group: Annotated[
        str, typer.Option(help="Consumer group, after 'AGENCY.'.", callback=consumer_group)
    ] = DEFAULT_GROUP,
    metrics_port: MetricsPortOption = 0,
    log_format: LogFormatOption = LogFormat.JSON,
    profile: ProfileOption = None,
) -> None:
    """POST each of AGENCY's deliveries for each --purpose to URL, as AGENCY (its connection
    profile: --profile, else $BUS_PROFILE, else var/agencies/AGENCY.toml), until SIGTERM or
    Ctrl-C. Each is verified as the consumer SDK verifies it first; the offset is committed only
    after a 2xx. 408, 429, 5xx and no answer are retried with backoff, up to --attempts; any other
    status, and what does not verify, goes to AGENCY's dead-letter topic with the reason."""
    configure_logging(log_format)
    tls = _tls_context(ca_file)
    signing_key = load_bridge_key(agency, key or key_paths(agency, default_key_dir())[0])
    producer_keys = _key_store(keys)
    connection = load_agency_profile(agency, profile)
    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry)
    if metrics_port:
        serve_metrics(metrics_port, registry)
    if urlsplit(url).scheme == "http":
        log.warning("POSTing over plain http to %s: only for a receiver on this machine", url)
    retry = RetryPolicy(attempts=attempts, max_delay_s=max_delay)

    async def main() -> WebhookBridge:
        stop = asyncio.Event()
        stop_on_signals(stop)
        # Redirects are not followed: a 3xx could send personal data to another host.
        async with httpx.AsyncClient(
            verify=tls, timeout=httpx.Timeout(timeout), follow_redirects=False
        ) as client:
            poster = WebhookPoster(client, url, signing_key, retry, metrics)
            bridge = WebhookBridge(
                agency, connection, producer_keys, purpose, poster, metrics, group=group
            )
            await bridge.run(stop)
        return bridge

    bridge = asyncio.run(main())
    typer.echo(f"bridge for {agency} stopped: {bridge.stats}")


@app.command()
def receiver(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Listen on 127.0.0.1:PORT.")],
    db: Annotated[Path, typer.Option(metavar="FILE", help="Its SQLite database.", dir_okay=False)],
    bridge_public_key: Annotated[
        Path,
        typer.Option(metavar="PEM", help="The bridge's public key.", exists=True, dir_okay=False),
    ],
    keys: KeysOption = None,
    log_format: LogFormatOption = LogFormat.JSON,
) -> None:
    """A reference receiver on 127.0.0.1:PORT (put TLS in front of it for anything but a test):
    checks the bridge's signature (401 if not), verifies each delivery against its producer's
    key (400 if not), stores it once per idempotency key in --db and answers 2xx once committed."""
    configure_logging(log_format)
    bridge = load_bridge_public_key(bridge_public_key)
    producer_keys = _key_store(keys)
    try:
        store = ReceiptStore(db)
    except (sqlite3.Error, ValueError) as exc:
        raise typer.BadParameter(
            f"{db}: not a usable SQLite database ({exc})", param_hint="--db"
        ) from None
    try:
        uvicorn.run(
            receiver_app(store, bridge, producer_keys),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    finally:
        store.close()


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verification always on: the system's CAs, or only --ca-file's."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"--ca-file {ca_file}: not a readable PEM CA certificate ({exc})"
        ) from None


def _key_store(keys: Path | None) -> KeyStore:
    directory = keys or default_state_dir() / "keys" / "public"
    store = KeyStore.from_directory(directory)
    if not len(store):
        raise ConfigError(f"--keys {directory}: no producer public keys (*.pub.pem) there")
    return store
