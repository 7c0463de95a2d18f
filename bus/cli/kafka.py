"""`bus kafka …`: provision, start, stop and inspect the local broker."""

import time
from datetime import UTC, datetime

import typer

from bus.devenv import broker
from bus.devenv.certs import RENEW_BEFORE, CertificateFile, ensure_certificates
from bus.devenv.provision import jars_present, libs_dir, provision_jars
from bus.devenv.quorum import QuorumMember
from bus.kafka.settings import load_kafka_settings

app = typer.Typer(
    help="Run the local Kafka lab: one node or three (KRaft, TLS, SCRAM, ACLs).",
    no_args_is_help=True,
)


@app.command()
def provision() -> None:
    """Fetch the pinned Kafka jars from Maven Central into the cache (once)."""
    settings = load_kafka_settings()
    if jars_present(settings):
        typer.echo(f"Kafka jars already in {libs_dir(settings)}")
        return
    typer.echo(f"resolving Kafka jars with Maven into {libs_dir(settings)} …")
    typer.echo(f"done: {provision_jars(settings)}")


@app.command()
def certs(
    nodes: int | None = typer.Option(
        None, "--nodes", min=1, max=9, help="Certificates for nodes 1..N; default: the lab's nodes."
    ),
    renew: bool = typer.Option(
        False, "--renew", help="Make new node certificates even if the current ones are valid."
    ),
) -> None:
    """Make the lab CA (only if missing) and each node's certificate (renewed within 30 days of
    expiry, or when the broker's host changed); print where they are and until when they hold.
    A running broker reads a renewed certificate at its next start."""
    settings = load_kafka_settings()
    node_ids = tuple(range(1, nodes + 1)) if nodes else tuple(settings.node_ids)
    ca, made = ensure_certificates(settings, node_ids, renew=renew)
    typer.echo(_certificate_line("CA", ca) + "  (clients trust this file)")
    for node in made:
        typer.echo(_certificate_line(f"node {node.node_id}", node.certificate))
        typer.echo(f"  keystore {node.keystore}")
    if ca.not_after - datetime.now(UTC) < RENEW_BEFORE:
        # Never replaced automatically: every client trusts this very CA.
        typer.echo(
            f"warning: the CA expires on {ca.not_after:%Y-%m-%d}; make a new one by deleting"
            f" {ca.path.parent} (or `bus kafka reset`) and give every client the new ca.crt"
        )
    if any(node.certificate.created for node in made) and broker.broker_pid(settings):
        typer.echo(
            "the running broker uses its new certificate after `bus kafka down; bus kafka up`"
        )
    if not settings.tls:
        typer.echo("note: BUS_KAFKA_TLS is off, so the broker does not use them")


def _certificate_line(label: str, certificate: CertificateFile) -> str:
    action = "made" if certificate.created else "kept"
    return (
        f"{label}: {action} {certificate.path}, valid until "
        f"{certificate.not_after:%Y-%m-%d %H:%M} UTC ({certificate.subject})"
    )


@app.command()
def up(
    nodes: int | None = typer.Option(
        None,
        "--nodes",
        min=1,
        max=3,
        help="Nodes (combined broker and controller) on a fresh lab, 1 or 3; default: as"
        " formatted, else 1.",
    ),
) -> None:
    """Start every node not running (making TLS certificates first when missing); return once
    the cluster lists them all and answers an authenticated request."""
    settings = load_kafka_settings(**({"nodes": nodes} if nodes else {}))
    started = time.monotonic()
    state = broker.up(settings, say=typer.echo)
    typer.echo(
        f"Kafka {state.version} is up at {state.bootstrap}: {len(state.nodes)} node(s),"
        f" {'TLS' if settings.tls else 'NO TLS'}, {time.monotonic() - started:.1f} s;"
        f" log: {state.log_file}"
    )


@app.command()
def down() -> None:
    """Stop every node (their data stays)."""
    stopped = broker.down(load_kafka_settings())
    typer.echo("broker stopped" if stopped else "no broker was running")


@app.command()
def reset(yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Stop every node and delete all their data, logs and generated credentials."""
    settings = load_kafka_settings()
    if not yes:
        typer.confirm(f"delete everything in {settings.state_dir}?", abort=True)
    broker.reset(settings)
    typer.echo(f"deleted {settings.state_dir}")


@app.command()
def status(
    quorum: bool = typer.Option(
        True, "--quorum/--no-quorum", help="Ask the controller quorum too (a JVM start, ~2 s)."
    ),
) -> None:
    """Every node's process, the controller quorum and the under-replicated partitions; exit 1
    unless every node runs and the cluster answers."""
    state = broker.status(load_kafka_settings(), quorum=quorum)
    typer.echo(f"Kafka {state.version}, bootstrap {state.bootstrap}")
    listed = set(state.cluster.broker_ids) if state.cluster else set()
    for node in state.nodes:
        process = f"pid {node.pid}" if node.pid else "not running"
        membership = "in the cluster" if node.node_id in listed else "not in the cluster"
        typer.echo(f"  node {node.node_id}: port {node.port}, {process}, {membership}")
    if state.cluster is None:
        reason = "no node runs" if not state.running else f"no answer; log: {state.log_file}"
        typer.echo(f"cluster: {reason}")
        raise typer.Exit(1)
    typer.echo(
        f"cluster {state.cluster.cluster_id}: {state.cluster.broker_count} broker(s),"
        f" {state.cluster.topic_count} topics"
    )
    if isinstance(state.quorum, str):
        typer.echo(f"controller quorum: could not be read ({state.quorum})")
    elif state.quorum is not None:
        typer.echo("controller quorum: " + _quorum_line(state.quorum))
    short = state.under_replicated or {}
    typer.echo(
        "under-replicated partitions: "
        + (", ".join(f"{t} {p}" for t, p in sorted(short.items())) if short else "none")
    )
    if not all(node.pid and node.node_id in listed for node in state.nodes):
        raise typer.Exit(1)


def _quorum_line(members: list[QuorumMember]) -> str:
    return ", ".join(f"node {m.node_id} {m.role.lower()} (lag {m.lag})" for m in members)
