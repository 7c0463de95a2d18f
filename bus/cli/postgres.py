"""`bus postgres …`: the project's own PostgreSQL server (for the audit store on PostgreSQL)."""

import typer

from bus.audit.store.connect import redacted
from bus.devenv import postgres as local

app = typer.Typer(help="The project's PostgreSQL server (127.0.0.1 only).", no_args_is_help=True)


@app.command()
def up() -> None:
    """Install it from Debian's packages if missing, initialise it once, start it."""
    url = local.up(say=typer.echo)
    typer.echo(f"PostgreSQL ready: {redacted(url)}  (full URL: bus postgres url)")


@app.command()
def down() -> None:
    """Stop it (fast shutdown)."""
    typer.echo("PostgreSQL stopped" if local.down() else "PostgreSQL was not running")


@app.command()
def status() -> None:
    """Say whether it runs, where it listens and where its data is."""
    server = local.LocalPostgres.default()
    binaries = local.find_binaries()
    state = "running" if binaries and local.running(server, binaries) else "not running"
    typer.echo(f"PostgreSQL: {state} (127.0.0.1:{server.port}, data in {server.data_dir})")


@app.command()
def url() -> None:
    """Print the audit store's connection URL, password included (for BUS_AUDIT_STORE)."""
    typer.echo(local.connection_url())
