"""`bus kafka …`: provision, start, stop and inspect the local broker."""

import typer

from bus.devenv import broker
from bus.devenv.provision import jars_present, libs_dir, provision_jars
from bus.kafka.settings import load_kafka_settings

app = typer.Typer(
    help="Run the local single-node Kafka broker (KRaft, SCRAM, ACLs).", no_args_is_help=True
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
def up() -> None:
    """Start the broker if it is not running; return once it answers an authenticated request."""
    state = broker.up(load_kafka_settings(), say=typer.echo)
    typer.echo(
        f"Kafka {state.version} is up at {state.bootstrap} (pid {state.pid}); log: {state.log_file}"
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
