"""The demo's events as a legacy register would export them: a CSV file in the adapter's format
(producers/register_adapter/README.md)."""

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from bus.catalog import Event
from producers.register_adapter.columns import COLUMNS, EVENT_COLUMN, ROW_KINDS


def export_csv(events: Sequence[Event], bad_rows: Sequence[dict[str, str]] = ()) -> str:
    """The CSV text of `events`, then `bad_rows` as given (rows the adapter must reject)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for event in events:
        writer.writerow(row_of(event))
    for row in bad_rows:
        writer.writerow(row)
    return out.getvalue()


def row_of(event: Event) -> dict[str, str]:
    """`event` as one CSV row: its row kind and its columns' values as text."""
    kind = next(k for k in ROW_KINDS.values() if k.event_class is type(event))
    row = {EVENT_COLUMN: kind.name}
    for column in kind.columns:
        value: Any = event
        for part in column.path:
            value = getattr(value, part)
        row[column.name] = _text(value)
    return row


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
