"""The register adapter's CSV format: good rows become catalogue events; every bad row is one
`file:line: what is wrong` problem and the rows after it still parse; a file without the header is
rejected whole."""

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest

from bus.catalog.population import Address, AddressChanged, PersonDied
from producers.register_adapter.columns import COLUMNS, ROW_KINDS
from producers.register_adapter.csv_file import read_register_csv
from producers.register_adapter.errors import RegisterFileError
from producers.register_adapter.rows import ParsedRow, RowOutcome, RowProblem, parse_rows

MOVE = {
    "event": "address_changed",
    "person_id": "P-1001-2002",
    "effective_date": "2026-11-01",
    "prev_street": "Marienplatz",
    "prev_house_number": "8",
    "prev_postal_code": "80331",
    "prev_municipality_code": "09162000",
    "prev_country": "DE",
    "new_street": "Hauptstraße",
    "new_house_number": "12a",
    "new_postal_code": "93047",
    "new_municipality_code": "09362000",
    "new_country": "DE",
    "moved_abroad": "false",
    "disclosure_block": "false",
}
DEATH = {
    "event": "person_died",
    "person_id": "P-3003-4004",
    "date_of_death": "2026-10-30",
    "registration_municipality_code": "09162000",
    "cause_of_death_code": "I21.9",
    "disclosure_block": "false",
}


def export(*rows: dict[str, str], header: tuple[str, ...] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return out.getvalue().encode()


def outcomes(data: bytes, name: str = "moves.csv") -> list[RowOutcome]:
    return list(parse_rows(read_register_csv(data, name)))


def only_problem(row: dict[str, str]) -> str:
    [outcome] = outcomes(export(row))
    assert isinstance(outcome, RowProblem), outcome
    return str(outcome)


def test_columns_fill_every_field_of_the_catalogue_models() -> None:
    # A field added to the catalogue without a column would make every row of that kind fail.
    for kind in ROW_KINDS.values():
        paths = {c.path for c in kind.columns}
        for name, info in kind.event_class.model_fields.items():
            if info.annotation is Address:
                assert {(name, part) for part in Address.model_fields} <= paths
            else:
                assert (name,) in paths, f"{kind.name}: no column for {name}"


def test_an_address_change_becomes_the_catalogue_event() -> None:
    [row] = outcomes(export(MOVE))
    assert row == ParsedRow(
        2,
        AddressChanged(
            subject_id="P-1001-2002",
            previous_address=Address(
                street="Marienplatz",
                house_number="8",
                postal_code="80331",
                municipality_code="09162000",
                country="DE",
            ),
            new_address=Address(
                street="Hauptstraße",
                house_number="12a",
                postal_code="93047",
                municipality_code="09362000",
                country="DE",
            ),
            effective_date=date(2026, 11, 1),
            moved_abroad=False,
            disclosure_block=False,
        ),
    )


def test_a_move_abroad_with_optional_columns_empty_and_flags_as_digits() -> None:
    abroad = MOVE | {
        "new_street": "Rue de Rivoli",
        "new_house_number": "1",
        "new_postal_code": "",
        "new_municipality_code": "",
        "new_country": "FR",
        "moved_abroad": "1",
        "disclosure_block": "TRUE",
    }
    [row] = outcomes(export(abroad))
    assert isinstance(row, ParsedRow)
    assert isinstance(row.event, AddressChanged)
    assert row.event.new_address == Address(street="Rue de Rivoli", house_number="1", country="FR")
    assert row.event.moved_abroad is True
    assert row.event.disclosure_block is True


def test_deaths_with_and_without_a_cause_become_catalogue_events() -> None:
    without_cause = DEATH | {"person_id": "P-5005-6006", "cause_of_death_code": ""}
    rows = outcomes(export(DEATH, without_cause))
    assert rows == [
        ParsedRow(
            2,
            PersonDied(
                subject_id="P-3003-4004",
                date_of_death=date(2026, 10, 30),
                registration_municipality_code="09162000",
                cause_of_death_code="I21.9",
                disclosure_block=False,
            ),
        ),
        ParsedRow(
            3,
            PersonDied(
                subject_id="P-5005-6006",
                date_of_death=date(2026, 10, 30),
                registration_municipality_code="09162000",
                disclosure_block=False,
            ),
        ),
    ]


def test_values_are_trimmed_and_header_order_and_case_do_not_matter() -> None:
    header = tuple(reversed([c.upper() for c in COLUMNS]))
    padded = {k.upper(): f"  {v} " for k, v in DEATH.items()}
    [row] = outcomes(export(padded, header=header))
    assert isinstance(row, ParsedRow)
    assert isinstance(row.event, PersonDied)
    assert row.event.subject_id == "P-3003-4004"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            MOVE | {"event": "married"},
            "event: unknown event 'married' (expected address_changed or person_died)",
        ),
        (MOVE | {"event": ""}, "event: missing value (expected address_changed or person_died)"),
        (MOVE | {"new_street": ""}, "new_street: missing value"),
        (
            MOVE | {"person_id": "", "prev_country": ""},
            "person_id: missing value; prev_country: missing value",
        ),
        (MOVE | {"effective_date": "01.11.2026"}, "effective_date: expected a date as YYYY-MM-DD"),
        (MOVE | {"effective_date": "2026-02-30"}, "effective_date: not a valid date"),
        (MOVE | {"moved_abroad": "ja"}, "moved_abroad: expected true or false"),
        (
            MOVE | {"new_country": "Germany"},
            "new_country: String should match pattern '^[A-Z]{2}$'",
        ),
        (
            MOVE | {"date_of_death": "2026-10-30"},
            "date_of_death: must be empty for address_changed",
        ),
        (DEATH | {"new_street": "Hauptstraße"}, "new_street: must be empty for person_died"),
        (
            DEATH | {"registration_municipality_code": ""},
            "registration_municipality_code: missing value",
        ),
        (
            DEATH | {"cause_of_death_code": "heart attack"},
            "cause_of_death_code: String should match pattern '^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$'",
        ),
    ],
)
def test_each_kind_of_bad_value_is_reported_with_file_line_and_column(
    row: dict[str, str], message: str
) -> None:
    assert only_problem(row) == f"moves.csv:2: {message}"


def test_messages_name_the_column_not_the_personal_data() -> None:
    message = only_problem(MOVE | {"person_id": "Erika Mustermann", "new_street": "x" * 300})
    assert message.startswith("moves.csv:2: person_id: String should match pattern")
    assert "new_street: String should have at most 200 characters" in message
    assert "Erika" not in message
    assert "xxx" not in message


def test_wrong_column_count_and_broken_quoting_are_bad_rows_and_later_rows_still_parse() -> None:
    header = ",".join(COLUMNS)
    good = export(DEATH).decode().splitlines()[1]
    text = (
        "\n".join(
            [
                header,
                "person_died,P-3003-4004,2026-10-30",  # too few values
                good + ",surplus",  # too many
                good,
                'person_died,"P-30"03-4004'
                + good[len("person_died,P-3003-4004") :],  # broken quoting
                good,
            ]
        )
        + "\n"
    )
    rows = outcomes(text.encode())
    assert [str(r) if isinstance(r, RowProblem) else r.line for r in rows if r is not None] == [
        f"moves.csv:2: expected {len(COLUMNS)} values (one per header column), found 3",
        f"moves.csv:3: expected {len(COLUMNS)} values (one per header column), found {len(COLUMNS) + 1}",
        4,
        "moves.csv:5: malformed CSV (',' expected after '\"')",
        6,
    ]


def test_line_numbers_count_physical_lines_across_quoted_line_breaks_and_blank_lines() -> None:
    multi_line_street = MOVE | {"prev_street": "Am Hof\nHinterhaus"}
    data = export(multi_line_street, MOVE | {"event": "moved"}).replace(b"\nmoved", b"\n\nmoved")
    rows = outcomes(data)
    # Header line 1; the first record spans lines 2-3; line 4 is blank; the bad record is line 5.
    assert isinstance(rows[0], ParsedRow)
    assert rows[0].line == 2
    assert rows[1] is None
    assert isinstance(rows[2], RowProblem)
    assert rows[2].line == 5


def test_an_unterminated_quote_at_the_end_is_one_bad_row() -> None:
    data = export(DEATH) + b'person_died,"P-1\n'
    rows = outcomes(data)
    assert isinstance(rows[0], ParsedRow)
    assert [str(r) for r in rows[1:]] == ["moves.csv:3: malformed CSV (unexpected end of data)"]


def test_missing_header_columns_reject_the_file_naming_file_and_columns() -> None:
    header = tuple(c for c in COLUMNS if c not in ("prev_country", "date_of_death"))
    with pytest.raises(RegisterFileError) as caught:
        read_register_csv(export(MOVE, header=header), "moves-2026-11.csv")
    assert caught.value.missing == ("prev_country", "date_of_death")
    assert str(caught.value) == (
        "moves-2026-11.csv: header row is not a register export (missing columns: prev_country, "
        "date_of_death); nothing from this file was published"
    )


def test_a_misspelt_column_is_reported_as_missing_and_unknown() -> None:
    header = tuple("new_stret" if c == "new_street" else c for c in COLUMNS)
    with pytest.raises(
        RegisterFileError,
        match=r"missing columns: new_street; unknown columns: "
        r"new_stret\)",
    ):
        read_register_csv(export(MOVE, header=header), "moves.csv")


def test_a_file_that_starts_with_data_has_no_header_and_its_values_are_not_echoed() -> None:
    data = b"\n".join(export(MOVE).splitlines()[1:]) + b"\n"
    with pytest.raises(RegisterFileError) as caught:
        read_register_csv(data, "moves.csv")
    assert str(caught.value).startswith("moves.csv: no header row; the first line names none")
    assert "Marienplatz" not in str(caught.value)
    assert caught.value.missing == COLUMNS


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "no header row"),
        (export(MOVE).decode().encode("latin-1"), "not UTF-8 (line 2 has a byte that is not)"),
    ],
)
def test_empty_and_non_utf8_files_are_rejected_whole(data: bytes, problem: str) -> None:
    with pytest.raises(RegisterFileError, match="^" + re.escape(f"moves.csv: {problem}")):
        read_register_csv(data, "moves.csv")


def test_a_byte_order_mark_is_tolerated_and_a_header_only_file_has_no_rows() -> None:
    parsed = read_register_csv(b"\xef\xbb\xbf" + export(), "empty.csv")
    assert parsed.header == COLUMNS
    assert parsed.records == ()


def test_the_readme_example_parses_as_the_readme_says() -> None:
    readme = (
        Path(__file__).parents[2] / "producers" / "register_adapter" / "README.md"
    ).read_text()
    example = re.search(r"```csv\n(.*?)```", readme, re.DOTALL)
    assert example is not None
    rows = outcomes(example.group(1).encode(), "2026-11-01-register.csv")
    assert [type(r.event) for r in rows if isinstance(r, ParsedRow)] == [
        AddressChanged,
        AddressChanged,
        PersonDied,
        PersonDied,
    ]
    problem = (
        "2026-11-01-register.csv:6: event: unknown event 'moved' (expected address_changed or "
        "person_died)"
    )
    assert [str(r) for r in rows if isinstance(r, RowProblem)] == [problem]
    assert f"`{problem}`" in " ".join(readme.split())
