"""`bus back-office run AGENCY`: a reference back office as a service, with its own credentials;
`bus back-office purge AGENCY`: erase, once, what its retention says must be gone."""

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.params import MetricsPortOption, ProfileOption
from bus.control.credentials import load_agency_profile
from bus.keys import KeyStore
from bus.util.logs import LogFormat, configure_logging
from bus.util.paths import default_state_dir
from bus.util.private_files import make_private_dir
from consumers.back_offices import REFERENCE_BACK_OFFICES
from consumers.back_offices.back_office import BackOffice
from consumers.consumer import Consumer
from consumers.inbox import SqliteInbox
from consumers.purge import PurgeResult

app = typer.Typer(help="The reference back offices (consumers/back_offices).", no_args_is_help=True)
OFFICES = {office.agency_id: office for office in REFERENCE_BACK_OFFICES}


AgencyArgument = Annotated[str, typer.Argument(help=f"One of: {', '.join(OFFICES)}.")]
DatabaseOption = Annotated[
    Path | None,
    typer.Option(
        help="Its SQLite database. Default: var/back-offices/AGENCY.db",
        dir_okay=False,
        resolve_path=True,
    ),
]
KeysOption = Annotated[
    Path | None,
    typer.Option(
        help="Producers' public keys. Default: var/keys/public.", exists=True, file_okay=False
    ),
]
LogFormatOption = Annotated[LogFormat, typer.Option(help="json or text.")]


@app.command()
def run(
    agency: AgencyArgument,
    database: DatabaseOption = None,
    keys: KeysOption = None,
    log_format: LogFormatOption = LogFormat.JSON,
    profile: ProfileOption = None,
    metrics_port: MetricsPortOption = 0,
) -> None:
    """Keep AGENCY's table in step with its deliveries until SIGTERM or Ctrl-C, as AGENCY (its
    connection profile: --profile, else $BUS_PROFILE, else var/agencies/AGENCY.toml). What its
    retention says must be gone is erased at start and every hour."""
    office, inbox, consumer = _back_office(agency, database, keys, log_format, profile)
    if metrics_port:
        consumer.metrics.serve(metrics_port)

    async def main() -> None:
        logging.getLogger(__name__).info("%s running", office.title)
        await consumer.run_until_signalled()

    asyncio.run(main())
    inbox.close()
    typer.echo(
        f"{office.title} stopped: {consumer.stats.applied} applied, "
        f"{consumer.stats.duplicates} duplicates skipped, dead-lettered {consumer.stats.dead_lettered}"
    )


@app.command()
def purge(
    agency: AgencyArgument,
    database: DatabaseOption = None,
    keys: KeysOption = None,
    log_format: LogFormatOption = LogFormat.TEXT,
    profile: ProfileOption = None,
) -> None:
    """Erase, once, every row of AGENCY whose deliveries' retention has run out, and record each
    erasure on AGENCY's erasures topic for the audit trail, as AGENCY. Exit 1 if anything due
    could not be erased (it stays due, and shows as overdue in the citizen's report)."""
    office, inbox, consumer = _back_office(agency, database, keys, log_format, profile)

    def progress(done: PurgeResult) -> None:
        typer.echo(f"  erased {done.erased}, reported {done.reported}", err=True)

    result = asyncio.run(consumer.purge_now(progress))
    inbox.close()
    typer.echo(
        f"{office.title}: {result.erased} erased, {result.reported} erasures recorded, "
        f"{result.failed} failed, {result.no_eraser} without an erase handler"
    )
    if result.failed or result.no_eraser:
        raise typer.Exit(1)


def _back_office(
    agency: str,
    database: Path | None,
    keys: Path | None,
    log_format: LogFormat,
    profile: Path | None,
) -> tuple[BackOffice, SqliteInbox, Consumer[sqlite3.Connection]]:
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
    return office, inbox, consumer


def _open(office: BackOffice, database: Path) -> SqliteInbox:
    try:
        return office.open_database(database)
    except sqlite3.Error as exc:
        raise typer.BadParameter(
            f"{database}: not a usable SQLite database ({exc})", param_hint="--database"
        ) from None
