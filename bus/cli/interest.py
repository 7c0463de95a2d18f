"""`bus interest add|remove|list AGENCY`: a consumer agency's interest markers, with its own
credentials (consumers/interest.py). Nothing the bus answers tells whether a person exists."""

import asyncio
from datetime import datetime
from typing import Annotated

import typer

from bus.cli.params import ProfileOption, PurposeOption, agency_id
from bus.control.credentials import load_agency_profile
from bus.record.interest_marker import MarkerError, read_subject
from consumers.interest import InterestRegister

app = typer.Typer(
    help="A consumer's interest markers: which people it has a case about (need to know).",
    no_args_is_help=True,
)


def _subject(value: str) -> str:
    try:
        return read_subject(value.encode("utf-8", errors="replace"))
    except MarkerError as exc:
        raise typer.BadParameter(f"{value!r}: {exc}") from None


AgencyArgument = Annotated[
    str, typer.Argument(metavar="AGENCY", help="The consumer agency's id.", callback=agency_id)
]
SubjectArgument = Annotated[
    str,
    typer.Argument(
        metavar="SUBJECT", help="The person's identifier (as events key it).", callback=_subject
    ),
]


def _expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} is no instant with a time zone; e.g. 2027-06-30T00:00:00Z",
            param_hint="--expires",
        )
    return moment


@app.command()
def add(
    agency: AgencyArgument,
    subject: SubjectArgument,
    purpose: PurposeOption,
    expires: Annotated[
        str | None,
        typer.Option(metavar="INSTANT", help="When the marker lapses (RFC 3339). Default: never."),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Register AGENCY's interest in SUBJECT for PURPOSE: from now on, where a grant requires
    interest, events about the person may reach AGENCY for that purpose."""
    until = _expiry(expires)
    connection = load_agency_profile(agency, profile)

    async def send() -> None:
        async with InterestRegister(agency, connection) as register:
            await register.add(subject, purpose, until)

    asyncio.run(send())
    typer.echo(
        f"marker registered: {agency} × {purpose}" + (f" until {expires}" if expires else "")
    )


@app.command()
def remove(
    agency: AgencyArgument,
    subject: SubjectArgument,
    purpose: PurposeOption,
    profile: ProfileOption = None,
) -> None:
    """Remove AGENCY's marker on SUBJECT for PURPOSE: events about the person no longer reach it
    for that purpose where the grant requires interest."""
    connection = load_agency_profile(agency, profile)

    async def send() -> None:
        async with InterestRegister(agency, connection) as register:
            await register.remove(subject, purpose)

    asyncio.run(send())
    typer.echo(f"marker removed: {agency} × {purpose}")


@app.command("list")
def list_markers(
    agency: AgencyArgument, purpose: PurposeOption, profile: ProfileOption = None
) -> None:
    """AGENCY's markers in force for PURPOSE, one per line: subject and expiry."""
    connection = load_agency_profile(agency, profile)
    markers = asyncio.run(InterestRegister(agency, connection).list(purpose))
    for subject, until in markers.items():
        typer.echo(f"{subject}\t{until.isoformat() if until else 'until removed'}")
    typer.echo(f"{len(markers)} marker(s) for {agency} × {purpose}", err=True)
