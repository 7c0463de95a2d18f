"""How a `bus` command fails: one line on stderr and a non-zero exit, never a traceback.

The bus's own errors (`BusError`) say what is wrong and what to do: exit 1. Anything else is a bug
in the bus; it is still one line (exit 1), naming the exception, and `BUS_TRACEBACK=1` shows the
traceback for a bug report. Handled in the command group itself, so tests that invoke the app
in-process see exactly what a user sees.
"""

import os
from typing import Any

import typer
from typer.core import TyperGroup

from bus.errors import BusError

UNEXPECTED = "unexpected error"


class BusCommandGroup(TyperGroup):
    """The `bus` command group: a command's failure is one line on stderr, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command `ctx` names; a BusError or a bug is printed as one line, exit 1."""
        try:
            return super().invoke(ctx)
        except BusError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors and exits: typer prints and exits itself
        except Exception as exc:
            if os.environ.get("BUS_TRACEBACK") == "1":
                raise
            typer.echo(
                f"error: {UNEXPECTED} ({type(exc).__name__}: {str(exc)[:300]}); this is a bug in "
                "the bus, please report it with the output of the same command under BUS_TRACEBACK=1",
                err=True,
            )
            raise typer.Exit(1) from None
