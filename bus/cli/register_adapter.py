"""`bus register-adapter run`: publish a population register's CSV exports from an inbox folder."""

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.params import ProfileOption, agency_id
from bus.cli.signals import stop_on_signals
from bus.control.credentials import load_agency_profile
from bus.keys import AgencySigningKey
from bus.util.logs import LogFormat, configure_logging
from bus.util.paths import default_state_dir
from producers.register_adapter import DEFAULT_CHUNK_SIZE, FileResult, RegisterAdapter

# One transaction holds a chunk's events in the producer's memory until it commits.
MAX_CHUNK_SIZE = 100_000

app = typer.Typer(
    help="The population register's CSV adapter: exports in, signed events out, each row once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """The population register's CSV adapter (see producers/register_adapter/README.md)."""


@app.command()
def run(
    agency: Annotated[
        str,
        typer.Option(
            "--agency", help="The register's agency id, e.g. muni-09162000.", callback=agency_id
        ),
    ],
    inbox: Annotated[
        Path,
        typer.Option(
            "--inbox",
            help="The folder the register drops exports into (done/ and rejected/ go inside).",
            exists=True,
            file_okay=False,
            dir_okay=True,
        ),
    ],
    once: Annotated[
        bool, typer.Option("--once", help="Process what is there now, print a summary, exit.")
    ] = False,
    poll_interval: Annotated[
        float, typer.Option(help="Seconds between looks at the inbox.", min=0.1, max=3600.0)
    ] = 2.0,
    chunk_size: Annotated[
        int, typer.Option(help="Rows per Kafka transaction.", min=1, max=MAX_CHUNK_SIZE)
    ] = DEFAULT_CHUNK_SIZE,
    log_format: Annotated[
        LogFormat, typer.Option(help="json: one object per line; text: for a terminal.")
    ] = LogFormat.JSON,
    profile: ProfileOption = None,
) -> None:
    """Publish every export in INBOX as the agency, with its key (var/keys/private/AGENCY.key.pem)
    and its connection profile (--profile, else $BUS_PROFILE, else the var/agencies/AGENCY.toml
    `bus agency onboard` wrote). Runs until SIGTERM or Ctrl-C (the chunk in
    hand is committed first), or with --once until the inbox is done."""
    configure_logging(log_format, logging.INFO)
    key = AgencySigningKey.from_pem_file(
        agency, default_state_dir() / "keys" / "private" / f"{agency}.key.pem"
    )
    connection = load_agency_profile(agency, profile)
    adapter = RegisterAdapter(
        agency, key, connection, inbox, chunk_size=chunk_size, poll_interval_s=poll_interval
    )
    if once:
        results = asyncio.run(_once(adapter))
        for result in results:
            typer.echo("\n".join(result.lines()))
        stats = adapter.stats
        typer.echo(
            f"{len(results)} files: {stats.rows_published} events published, "
            f"{stats.rows_rejected} bad rows skipped, {stats.files_rejected} files rejected, "
            f"{stats.duplicates} duplicates"
        )
        return
    asyncio.run(_until_signalled(adapter))
    typer.echo(
        f"register adapter stopped: {adapter.stats.files_done} files, "
        f"{adapter.stats.rows_published} events published, "
        f"{adapter.stats.rows_rejected} bad rows skipped"
    )


async def _once(adapter: RegisterAdapter) -> list[FileResult]:
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with adapter:
        return await adapter.process_pending(stop)


async def _until_signalled(adapter: RegisterAdapter) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    await adapter.run(stop)
