"""The `bus` command: one entry point for everything a user runs."""

import os
import sys
from contextlib import suppress

import typer

from bus.cli import (
    acl,
    agency,
    audit,
    audit_index,
    audit_reconcile,
    back_office,
    bridge,
    catalog,
    contracts,
    demo,
    doctor,
    enforce,
    interest,
    kafka,
    lab,
    policy,
    postgres,
    register_adapter,
    sdk,
    subscriptions,
    topics,
    watch,
)
from bus.cli.failures import BusCommandGroup
from bus.errors import BusError
from bus.util.paths import default_state_dir
from bus.util.private_files import PRIVATE_UMASK, tighten

app = typer.Typer(
    help="Event-driven data sharing bus for government agencies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=BusCommandGroup,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(postgres.app, name="postgres")
app.add_typer(lab.app, name="lab")
app.add_typer(catalog.app, name="catalog")
app.add_typer(agency.app, name="agency")
app.add_typer(policy.app, name="policy")
app.command("subscribe")(subscriptions.subscribe)
app.command("unsubscribe")(subscriptions.unsubscribe)
app.command("subscriptions")(subscriptions.list_subscriptions)
app.command("enforce")(enforce.enforce)
app.add_typer(acl.app, name="acl")
app.add_typer(topics.app, name="topics")
audit.app.command("index")(audit_index.index)
audit.app.command("reconcile")(audit_reconcile.reconcile_command)
app.add_typer(audit.app, name="audit")
app.command("demo")(demo.demo)
app.command("doctor")(doctor.doctor)
app.command("watch")(watch.watch)
app.add_typer(register_adapter.app, name="register-adapter")
app.add_typer(back_office.app, name="back-office")
app.add_typer(bridge.app, name="bridge")
app.add_typer(interest.app, name="interest")
app.add_typer(contracts.app, name="contracts")
app.add_typer(sdk.app, name="sdk")


def main() -> None:
    """Run the CLI; the bus's own errors become one clear line and exit code 1, not a traceback."""
    # First thing: whatever this process and its children (broker, PostgreSQL, back offices,
    # enforcer) create is readable by its owner only; it is personal data or a secret.
    os.umask(PRIVATE_UMASK)
    _close_state_dir()
    try:
        app()
    except BusError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _close_state_dir() -> None:
    """0700, as an earlier version may have left it open. One that cannot be reached is left to
    the command that needs it, which says so."""
    state = default_state_dir()
    with suppress(OSError):
        if state.is_dir():
            tighten(state)
