"""The CSV columns of a register export and where each lands in the catalogue's event models."""

from dataclasses import dataclass
from enum import Enum

from bus.catalog import Event
from bus.catalog.population import AddressChanged, PersonDied

EVENT_COLUMN = "event"


class ValueType(Enum):
    """How a column's text becomes a field value."""

    TEXT = "text"
    DATE = "date"  # YYYY-MM-DD
    FLAG = "flag"  # true / false (1 / 0)


@dataclass(frozen=True)
class Column:
    """One CSV column: its header name, the field path in the event model, its value type."""

    name: str
    path: tuple[str, ...]
    type: ValueType = ValueType.TEXT


@dataclass(frozen=True)
class RowKind:
    """What the `event` column names: the event model and the columns that fill it."""

    name: str
    event_class: type[Event]
    columns: tuple[Column, ...]

    def column_at(self, path: tuple[str | int, ...]) -> str | None:
        """The CSV column that fills the model field at `path` (as pydantic reports it)."""
        for column in self.columns:
            if column.path == tuple(path):
                return column.name
        return None


def _address(prefix: str, field: str) -> tuple[Column, ...]:
    return tuple(
        Column(f"{prefix}_{part}", (field, part))
        for part in ("street", "house_number", "postal_code", "municipality_code", "country")
    )


PERSON_ID = Column("person_id", ("subject_id",))

ADDRESS_CHANGED = RowKind(
    "address_changed",
    AddressChanged,
    (
        PERSON_ID,
        Column("effective_date", ("effective_date",), ValueType.DATE),
        *_address("prev", "previous_address"),
        *_address("new", "new_address"),
        Column("moved_abroad", ("moved_abroad",), ValueType.FLAG),
        Column("disclosure_block", ("disclosure_block",), ValueType.FLAG),
    ),
)

PERSON_DIED = RowKind(
    "person_died",
    PersonDied,
    (
        PERSON_ID,
        Column("date_of_death", ("date_of_death",), ValueType.DATE),
        Column("registration_municipality_code", ("registration_municipality_code",)),
        Column("cause_of_death_code", ("cause_of_death_code",)),
        Column("disclosure_block", ("disclosure_block",), ValueType.FLAG),
    ),
)

ROW_KINDS: dict[str, RowKind] = {kind.name: kind for kind in (ADDRESS_CHANGED, PERSON_DIED)}


def _all_columns() -> tuple[str, ...]:
    names = [EVENT_COLUMN]
    for kind in ROW_KINDS.values():
        names += [c.name for c in kind.columns if c.name not in names]
    return tuple(names)


# Every column a file must have in its header (in any order), in the documented order.
COLUMNS: tuple[str, ...] = _all_columns()
