"""`bus back-office run AGENCY`: a reference back office as a service, with its own credentials."""

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.params import ProfileOption
from bus.cli.signals import stop_on_signals
from bus.control.credentials import load_agency_profile
from bus.keys import KeyStore
from bus.util.logs import LogFormat, configure_logging
from bus.util.paths import default_state_dir
from bus.util.private_files import make_private_dir
from consumers.back_offices import REFERENCE_BACK_OFFICES
from consumers.back_offices.back_office import BackOffice
from consumers.inbox import SqliteInbox

app = typer.Typer(help="The reference back offices (consumers/back_offices).", no_args_is_help=True)
OFFICES = {office.agency_id: office for office in REFERENCE_BACK_OFFICES}


@app.command()
def run(
    agency: Annotated[str, typer.Argument(help=f"One of: {', '.join(OFFICES)}.")],
    database: Annotated[
        Path | None,
        typer.Option(
            help="Its SQLite database. Default: var/back-offices/AGENCY.db",
            dir_okay=False,
            resolve_path=True,
        ),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            help="Producers' public keys. Default: var/keys/public.", exists=True, file_okay=False
        ),
    ] = None,
    log_format: Annotated[LogFormat, typer.Option(help="json or text.")] = LogFormat.JSON,
    profile: ProfileOption = None,
) -> None:
    """Keep AGENCY's table in step with its deliveries until SIGTERM or Ctrl-C, as AGENCY (its
    connection profile: --profile, else $BUS_PROFILE, else var/agencies/AGENCY.toml)."""
    office = OFFICES.get(agency)
    if office is None:
        raise typer.BadParameter(f"unknown back office {agency!r}; known: {', '.join(OFFICES)}")
    state = default_state_dir()
    if database is None:
        databases = state / "back-offices"
        make_private_dir(databases)  # personal data: as an earlier version may have left it open
        database = databases / f"{agency}.db"
    inbox = _open(office, database)
    # The agency's own principal only: an agency's process never reads the bus admin's password.
    connection = load_agency_profile(agency, profile)
    configure_logging(log_format)
    consumer = office.consumer(
        connection, KeyStore.from_directory(keys or state / "keys" / "public"), inbox
    )

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        logging.getLogger(__name__).info("%s running", office.title)
        await consumer.run(stop)

    asyncio.run(main())
    inbox.close()
    typer.echo(
        f"{office.title} stopped: {consumer.stats.applied} applied, "
        f"{consumer.stats.duplicates} duplicates skipped, dead-lettered {consumer.stats.dead_lettered}"
    )


def _open(office: BackOffice, database: Path) -> SqliteInbox:
    try:
        return office.open_database(database)
    except sqlite3.Error as exc:
        raise typer.BadParameter(
            f"{database}: not a usable SQLite database ({exc})", param_hint="--database"
        ) from None
