"""`bus kafka …`: provision, start, stop and inspect the local broker."""

from datetime import UTC, datetime

import typer

from bus.devenv import broker
from bus.devenv.certs import RENEW_BEFORE, CertificateFile, ensure_certificates
from bus.devenv.provision import jars_present, libs_dir, provision_jars
from bus.kafka.settings import load_kafka_settings

app = typer.Typer(
    help="Run the local single-node Kafka broker (KRaft, TLS, SCRAM, ACLs).", no_args_is_help=True
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
    nodes: int = typer.Option(1, "--nodes", min=1, max=9, help="Certificates for nodes 1..N."),
    renew: bool = typer.Option(
        False, "--renew", help="Make new node certificates even if the current ones are valid."
    ),
) -> None:
    """Make the lab CA (only if missing) and each node's certificate (renewed within 30 days of
    expiry, or when the broker's host changed); print where they are and until when they hold.
    A running broker reads a renewed certificate at its next start."""
    settings = load_kafka_settings()
    ca, made = ensure_certificates(settings, tuple(range(1, nodes + 1)), renew=renew)
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
def up() -> None:
    """Start the broker if it is not running (making its TLS certificates first when missing);
    return once it answers an authenticated request."""
    settings = load_kafka_settings()
    state = broker.up(settings, say=typer.echo)
    typer.echo(
        f"Kafka {state.version} is up at {state.bootstrap} (pid {state.pid}, "
        f"{'TLS' if settings.tls else 'NO TLS'}); log: {state.log_file}"
    )


@app.command()
def down() -> None:
    """Stop the broker (its data stays)."""
    stopped = broker.down(load_kafka_settings())
    typer.echo("broker stopped" if stopped else "no broker was running")


@app.command()
def reset(yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Stop the broker and delete all its data, logs and generated credentials."""
    settings = load_kafka_settings()
    if not yes:
        typer.confirm(f"delete everything in {settings.state_dir}?", abort=True)
    broker.reset(settings)
    typer.echo(f"deleted {settings.state_dir}")


@app.command()
def status() -> None:
    """Say whether the broker runs and answers; exit 1 if it does not."""
    state = broker.status(load_kafka_settings())
    if not state.running:
        typer.echo(f"Kafka {state.version}: not running (bootstrap {state.bootstrap})")
        raise typer.Exit(1)
    if state.cluster is None:
        typer.echo(
            f"Kafka {state.version}: process {state.pid} runs but does not answer; log: {state.log_file}"
        )
        raise typer.Exit(1)
    typer.echo(
        f"Kafka {state.version}: running, pid {state.pid}, bootstrap {state.bootstrap}, "
        f"cluster {state.cluster.cluster_id}, {state.cluster.broker_count} broker, "
        f"{state.cluster.topic_count} topics; log: {state.log_file}"
    )
