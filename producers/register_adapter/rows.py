"""One CSV record to one catalogue event, or to a problem that says `file:line: what is wrong`.

Messages name columns, never values: a register's rows are personal data, and the messages go to
logs and report files.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from bus.catalog import Event
from producers.register_adapter.columns import (
    COLUMNS,
    EVENT_COLUMN,
    ROW_KINDS,
    Column,
    RowKind,
    ValueType,
)
from producers.register_adapter.csv_file import CsvRecord, RegisterCsv

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FLAGS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class ParsedRow:
    """A good row: the event it makes, and the line it starts on."""

    line: int
    event: Event


@dataclass(frozen=True)
class RowProblem:
    """A bad row: skipped, reported, the rest of the file still published."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


# None: a blank line, skipped without a word.
RowOutcome = ParsedRow | RowProblem | None


def parse_rows(export: RegisterCsv) -> Iterator[RowOutcome]:
    """One outcome per record, in file order (so the n-th outcome is the n-th record)."""
    for record in export.records:
        yield parse_record(record, export.header, export.source)


def parse_record(record: CsvRecord, header: tuple[str, ...], source: str) -> RowOutcome:
    """The event of one record, its problem, or None for a blank line."""

    def problem(message: str) -> RowProblem:
        return RowProblem(source, record.line, message)

    if record.blank:
        return None
    if record.malformed is not None:
        return problem(record.malformed)
    if len(record.fields) != len(header):
        return problem(
            f"expected {len(header)} values (one per header column), found {len(record.fields)}"
        )
    values = {name: value.strip() for name, value in zip(header, record.fields, strict=True)}
    kind = ROW_KINDS.get(values[EVENT_COLUMN])
    if kind is None:
        expected = " or ".join(ROW_KINDS)
        if not values[EVENT_COLUMN]:
            return problem(f"{EVENT_COLUMN}: missing value (expected {expected})")
        return problem(
            f"{EVENT_COLUMN}: unknown event {values[EVENT_COLUMN]!r} (expected {expected})"
        )
    built = _build(kind, values)
    if isinstance(built, list):
        return problem("; ".join(built))
    return ParsedRow(record.line, built)


def _build(kind: RowKind, values: Mapping[str, str]) -> Event | list[str]:
    """The event, or everything that is wrong with the row, in column order."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    for column in kind.columns:
        for parent in range(1, len(column.path)):  # nested models exist even if all empty,
            _at(data, column.path[:parent])  # so a missing value is reported per column
        raw = values[column.name]
        if not raw:
            continue  # left out: the model says whether the field may be missing
        try:
            _at(data, column.path[:-1])[column.path[-1]] = _convert(column, raw)
        except ValueError as exc:
            problems.append(f"{column.name}: {exc}")
    own = {c.name for c in kind.columns}
    for name in COLUMNS:
        if name != EVENT_COLUMN and name not in own and values[name]:
            problems.append(f"{name}: must be empty for {kind.name}")
    try:
        event = kind.event_class.model_validate(data)
    except ValidationError as exc:
        unreadable = {_column_of(p) for p in problems}
        for error in exc.errors():
            name = kind.column_at(error["loc"]) or ".".join(str(p) for p in error["loc"])
            if name in unreadable:
                continue  # already reported as unreadable
            message = "missing value" if error["type"] == "missing" else error["msg"]
            problems.append(f"{name}: {message}")
        problems.sort(key=lambda p: _column_order(_column_of(p)))
        return problems
    return problems or event


def _convert(column: Column, raw: str) -> object:
    if column.type is ValueType.DATE:
        if not _DATE.match(raw):
            raise ValueError("expected a date as YYYY-MM-DD")
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ValueError("not a valid date") from None
    if column.type is ValueType.FLAG:
        flag = _FLAGS.get(raw.lower())
        if flag is None:
            raise ValueError("expected true or false")
        return flag
    return raw


def _at(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for part in path:
        data = data.setdefault(part, {})
    return data


def _column_of(problem: str) -> str:
    return problem.split(":", 1)[0]


def _column_order(name: str) -> int:
    return COLUMNS.index(name) if name in COLUMNS else len(COLUMNS)
