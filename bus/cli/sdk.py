"""`bus sdk …`: code for agency developers, generated from the policy set."""

import time
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.contracts import ConsumerOption, PolicyDirOption, policy_and_operator
from bus.cli.params import ProfileOption
from bus.contracts.channels import consumer_channels
from bus.contracts.views import views_module
from bus.policy.snapshot import compile_snapshot

app = typer.Typer(
    help="Code for agency developers, generated from the policy.", no_args_is_help=True
)


@app.command()
def views(
    consumer: ConsumerOption,
    policy: PolicyDirOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write here; default stdout.", dir_okay=False),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Write a Python module of typed views for CONSUMER's handlers: per delivery topic and event
    type, a Protocol with exactly the released fields, for `ReleasedEvent[...]` (mypy then flags a
    handler that reads a withheld field). Exit 1 for an unknown consumer or one without grants."""
    _, policy_set = policy_and_operator(policy, profile)
    snapshot = compile_snapshot(policy_set)
    source = views_module(consumer_channels(snapshot, consumer, time.time()), snapshot.hash)
    if out is None:
        typer.echo(source, nl=False)
        return
    out.write_text(source, encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)
