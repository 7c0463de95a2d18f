"""`bus audit …`: look into the audit trail on the bus."""

import asyncio
import json
from typing import Annotated

import typer

from bus.kafka import broker
from bus.kafka.reading import read_all
from bus.kafka.settings import load_kafka_settings
from bus.topics import AUDIT_TOPIC

app = typer.Typer(help="The audit trail: every decision, permit or deny.", no_args_is_help=True)


@app.command()
def find(
    event_id: Annotated[str | None, typer.Option(help="Decisions about this event.")] = None,
    consumer: Annotated[str | None, typer.Option(help="Decisions for this consumer.")] = None,
) -> None:
    """Print the matching audit records as JSON lines, read from the audit topic."""
    if event_id is None and consumer is None:
        raise typer.BadParameter("give --event-id or --consumer (or both)")
    connection = broker.admin_connection(load_kafka_settings())

    async def scan() -> int:
        found = 0
        async for record in read_all(connection, AUDIT_TOPIC):
            entry = json.loads(record.value)
            if event_id not in (None, entry.get("event_id"), entry.get("claimed_event_id")):
                continue
            if consumer not in (None, entry.get("consumer")):
                continue
            typer.echo(json.dumps(entry, ensure_ascii=False))
            found += 1
        return found

    found = asyncio.run(scan())
    typer.echo(f"{found} audit record(s)", err=True)
    if not found:
        raise typer.Exit(1)
