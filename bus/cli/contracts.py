"""`bus contracts …`: machine-readable contracts, derived from the policy set and the catalogue."""

import asyncio
import re
import time
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.params import ProfileOption, agency_id
from bus.contracts.asyncapi import asyncapi_document
from bus.contracts.event_schemas import event_schemas
from bus.contracts.rendering import render
from bus.contracts.validation import check_asyncapi
from bus.control import policy_store
from bus.errors import ConfigError
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile
from bus.policy.loader import PolicySet, load_policy_set
from bus.policy.snapshot import compile_snapshot
from bus.util.shown_values import shown

app = typer.Typer(
    help="Machine-readable contracts: AsyncAPI per consumer, JSON Schema per event type.",
    no_args_is_help=True,
)

ConsumerOption = Annotated[
    str,
    typer.Option("--consumer", metavar="ID", help="The consumer agency's id.", callback=agency_id),
]
PolicyDirOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="DIR",
        help="A policy set directory. Default: the set in force (read as the operator).",
        exists=True,
        file_okay=False,
    ),
]
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,253}:\d{1,5}")  # as the connection profile's


def _bootstrap(value: str | None) -> str | None:
    if value is None:
        return None
    hosts = [host.strip() for host in value.split(",")]
    if not all(_HOST_PORT.fullmatch(host) for host in hosts):
        raise typer.BadParameter(f"{shown(value)} is not host:port[,host:port...]")
    return ",".join(hosts)


@app.command()
def asyncapi(
    consumer: ConsumerOption,
    policy: PolicyDirOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Write here (.yaml/.yml: YAML, else JSON); default stdout.",
            dir_okay=False,
        ),
    ] = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(
            "--bootstrap",
            metavar="HOST:PORT",
            help="The servers to name (comma-separated). Default: the profile's, with --profile or"
            " without --policy; else a server variable to fill in.",
            callback=_bootstrap,
        ),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Write the AsyncAPI 3.0.0 document of what CONSUMER may receive: one channel per purpose it
    holds grants for, each message with only the fields released to it. Validated against the
    official AsyncAPI schema before it is written; exit 1 for an unknown consumer or one
    without grants."""
    connection, policy_set = policy_and_operator(policy, profile)
    servers, tls = _servers(bootstrap, connection)
    document = asyncapi_document(
        compile_snapshot(policy_set), consumer, time.time(), servers, tls=tls
    )
    check_asyncapi(document)
    text = render(document, out)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}: {len(document['channels'])} channel(s) for {consumer}", err=True)


def policy_and_operator(
    policy: Path | None, profile: Path | None
) -> tuple[KafkaConnection | None, PolicySet]:
    """The policy set from `policy`, else the one in force (read as the operator), and the
    operator's connection where one was loaded (its servers are named in documents)."""
    if policy is None:
        operator = load_profile("operator", profile)
        return operator, _in_force(operator)
    return (load_profile("operator", profile) if profile else None), load_policy_set(policy)


def _in_force(connection: KafkaConnection) -> PolicySet:
    applied = asyncio.run(policy_store.latest(connection))
    if applied is None:
        raise ConfigError(
            "no policy set has been applied: run `bus policy apply DIR` or pass --policy DIR"
        )
    return applied


def _servers(bootstrap: str | None, connection: KafkaConnection | None) -> tuple[list[str], bool]:
    """The bootstrap servers to name, and whether they speak TLS (the bus's deployments do)."""
    if bootstrap:
        return bootstrap.split(","), True
    if connection:
        return connection.bootstrap_servers, connection.uses_tls
    return [], True


@app.command("jsonschema")
def json_schema(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FOLDER",
            help="Write one file per event type and version here (created"
            " if missing); default: one JSON object on stdout.",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Write a JSON Schema (draft 2020-12) for each event type and version of the catalogue."""
    schemas = event_schemas()
    if out is None:
        typer.echo(render(schemas), nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (out / name).write_text(render(schema), encoding="utf-8")
    typer.echo(f"wrote {len(schemas)} schemas to {out}", err=True)
