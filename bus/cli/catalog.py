"""`bus catalog …`: list the event types, show one with its fields and schema, check evolution."""

import json
from collections.abc import Sequence

import typer

from bus.catalog import CATALOG, Event, check_catalog, format_report
from bus.catalog.fields import describe_type

app = typer.Typer(
    help="The typed event catalogue: types, fields, data classes.", no_args_is_help=True
)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    # Plain aligned columns: readable in a terminal, stable in tests and when piped to a file.
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _schema(event: type[Event]) -> str:
    return json.dumps(event.model_json_schema(), indent=2, ensure_ascii=False)


@app.command("list")
def list_types() -> None:
    """List every event type with its versions and producing domain."""
    rows = []
    for event_type in CATALOG.event_types():
        versions = CATALOG.versions(event_type)
        rows.append(
            [
                event_type,
                ", ".join(str(v.event_version) for v in versions),
                str(len(versions[-1].model_fields)),
                event_type.split(".", 1)[0],
            ]
        )
    typer.echo(_table(["type", "versions", "fields", "domain"], rows))


@app.command()
def show(
    event_type: str = typer.Argument(
        ..., metavar="TYPE", help="For example population.AddressChanged."
    ),
    version: int | None = typer.Option(None, "--version", help="The version (default: latest)."),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON Schema."),
) -> None:
    """Show one event type: its fields, their data classes and descriptions, and its JSON Schema."""
    event = CATALOG.latest(event_type) if version is None else CATALOG.get(event_type, version)
    if as_json:
        typer.echo(_schema(event))
        return
    known = ", ".join(str(v.event_version) for v in CATALOG.versions(event_type))
    upcaster = "no" if event.upcast is None else f"yes, from v{event.event_version - 1}"
    typer.echo(
        f"type:           {event.event_type}\n"
        f"version:        {event.event_version} (known versions: {known})\n"
        f"dataschema:     {event.dataschema()}\n"
        f"subject field:  {event.subject_field}\n"
        f"upcaster:       {upcaster}"
    )
    typer.echo(f"\n{(event.__doc__ or '').strip()}\n")
    data_classes = event.data_classes()
    rows = [
        [
            name,
            describe_type(field.annotation),
            "yes" if field.is_required() else "no",
            data_classes[name].value,
            field.description or "",
        ]
        for name, field in event.model_fields.items()
    ]
    typer.echo(_table(["field", "type", "required", "data class", "description"], rows))
    typer.echo(f"\nJSON Schema:\n{_schema(event)}")


@app.command()
def check() -> None:
    """Check that every version only evolves compatibly; exit 1 with a report if not."""
    problems = check_catalog(CATALOG)
    if problems:
        typer.echo(format_report(problems), err=True)
        raise typer.Exit(1)
    typer.echo(f"catalog OK: {len(CATALOG.event_types())} event types, {len(CATALOG)} versions")
