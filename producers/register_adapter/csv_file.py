"""Reading one export: decode it, check its header, split it into records with their line numbers.

A record is what the CSV dialect makes of the text: usually one line, more if a quoted value holds
a line break; its number is the line it starts on (the header is line 1). The same bytes always
give the same records, which is what lets a restart skip exactly the records already done.
"""

import csv
import hashlib
import io
from dataclasses import dataclass

from producers.register_adapter.columns import COLUMNS
from producers.register_adapter.errors import RegisterFileError


@dataclass(frozen=True)
class CsvRecord:
    """One record after the header. `malformed` says why the CSV dialect could not split it."""

    line: int
    fields: tuple[str, ...]
    malformed: str | None = None

    @property
    def blank(self) -> bool:
        """Whether the record is an empty line (skipped without a word)."""
        return not self.fields and self.malformed is None


@dataclass(frozen=True)
class RegisterCsv:
    """One export, read: its name, the sha256 of its bytes, its header and its records."""

    source: str
    sha256: str
    header: tuple[str, ...]
    records: tuple[CsvRecord, ...]


def sha256_hex(data: bytes) -> str:
    """The content hash that names a file's progress, whatever the file is called."""
    return hashlib.sha256(data).hexdigest()


def read_register_csv(data: bytes, source: str) -> RegisterCsv:
    """Parse `data` (the file's bytes; `source` names it in messages) or raise RegisterFileError."""
    text = _decode(data, source)
    records = _records(text)
    if not records or records[0].blank or records[0].malformed is not None:
        raise RegisterFileError(
            source,
            f"no header row; the first line must name the columns {', '.join(COLUMNS)}",
            missing=COLUMNS,
        )
    header = tuple(name.strip().lower() for name in records[0].fields)
    _check_header(header, source)
    return RegisterCsv(source, sha256_hex(data), header, tuple(records[1:]))


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")  # tolerate the byte order mark spreadsheet tools write
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RegisterFileError(
            source, f"not UTF-8 (line {line} has a byte that is not); export the file as UTF-8"
        ) from None


def _records(text: str) -> list[CsvRecord]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[CsvRecord] = []
    ended = 0  # the last line the reader has consumed
    while True:
        start = ended + 1
        try:
            fields = next(reader)
        except StopIteration:
            return records
        except csv.Error as exc:
            records.append(CsvRecord(start, (), malformed=f"malformed CSV ({exc})"))
        else:
            records.append(CsvRecord(start, tuple(fields)))
        ended = reader.line_num


def _check_header(header: tuple[str, ...], source: str) -> None:
    if not set(header) & set(COLUMNS):
        # Most likely a data row: do not repeat its values (personal data) in the message.
        raise RegisterFileError(
            source,
            f"no header row; the first line names none of the columns {', '.join(COLUMNS)}",
            missing=COLUMNS,
        )
    missing = [name for name in COLUMNS if name not in header]
    unknown = [name or "(empty)" for name in header if name not in COLUMNS]
    repeated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown)}")
    if repeated:
        problems.append(f"repeated columns: {', '.join(repeated)}")
    if problems:
        raise RegisterFileError(
            source,
            f"header row is not a register export ({'; '.join(problems)})",
            missing=missing,
            unknown=unknown,
        )
