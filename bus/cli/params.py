"""Checked command-line values shared by the `bus` commands: a bad one is refused before anything
runs, by the command-line parser, with the option's name and what is expected (exit 2)."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from bus.agency_ids import check_agency_id, check_purpose_code
from bus.catalog import CATALOG
from bus.errors import ConfigError


def _parameter(check: Callable[[str], str]) -> Callable[[str | None], str | None]:
    def callback(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check(value)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


def check_event_type(value: str) -> str:
    if value not in CATALOG.event_types():
        shown = repr(value[:80]) + ("…" if len(value) > 80 else "")
        raise ConfigError(f"{shown} is not an event type of the catalogue (see `bus catalog list`)")
    return value


agency_id = _parameter(check_agency_id)
purpose_code = _parameter(check_purpose_code)
event_type = _parameter(check_event_type)

ConsumerOption = Annotated[
    str,
    typer.Option("--consumer", metavar="ID", help="The receiving agency's id.", callback=agency_id),
]
EventTypeOption = Annotated[
    str,
    typer.Option(
        "--event-type", metavar="TYPE", help="e.g. population.AddressChanged", callback=event_type
    ),
]
PurposeOption = Annotated[
    str,
    typer.Option(
        "--purpose", metavar="CODE", help="The purpose code the grant names.", callback=purpose_code
    ),
]
PolicyDirOption = Annotated[
    Path,
    typer.Option(
        "--policy", metavar="DIR", help="The policy set in force.", exists=True, file_okay=False
    ),
]
