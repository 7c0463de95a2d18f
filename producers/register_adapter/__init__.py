"""The reference producer: a municipal population register's CSV exports, published as signed
`population.AddressChanged` and `population.PersonDied` events, each row exactly once.

    async with RegisterAdapter("muni-09162000", key, connection, Path("inbox")) as adapter:
        for result in await adapter.process_pending():
            print("\\n".join(result.lines()))
    # or, as a service: await RegisterAdapter(...).run(stop)  (`bus register-adapter run`)

CSV format (see README.md in this folder for an example file):

- UTF-8 (a byte order mark is tolerated), comma-separated, `"` quotes, one header row.
- The header names every column below, in any order (names are trimmed and lower-cased); a file
  with a missing, unknown or repeated column is rejected whole and nothing of it is published.
- `event` says what a row is: `address_changed` or `person_died`. The columns of the other kind
  stay empty. Values are trimmed. Dates are `YYYY-MM-DD`, flags `true`/`false` (or `1`/`0`).

  column                          address_changed            person_died
  event                           address_changed            person_died
  person_id                       required                   required
  effective_date                  required (date)            empty
  prev_street                     required                   empty
  prev_house_number               required                   empty
  prev_postal_code                optional                   empty
  prev_municipality_code          optional (AGS/LAU code)    empty
  prev_country                    required (ISO 3166 alpha-2) empty
  new_street … new_country        as prev_*                  empty
  moved_abroad                    required (flag)            empty
  disclosure_block                required (flag)            required (flag)
  date_of_death                   empty                      required (date)
  registration_municipality_code  empty                      required (AGS/LAU code)
  cause_of_death_code             empty                      optional (ICD-10)

- A bad row (unknown event, missing or invalid value, a value where none belongs, wrong number of
  values, broken quoting) is skipped and reported as `file:line: column: what is wrong` (logged at
  WARNING, listed in the FileResult and in `done/<file>.rejected.txt`); the other rows are
  published. Messages name columns, never values: rows are personal data.

Files: `*.csv` in the inbox, in name order; names starting with `.` or ending in `.part` are not
read (write `x.csv.part`, then rename it to `x.csv`). Finished files move to `done/`; files that
are not register exports to `rejected/` with `<file>.error.txt`. Content published before (same
sha256) is not published again, whatever the file is called.
"""

from producers.register_adapter.adapter import DEFAULT_CHUNK_SIZE, RegisterAdapter
from producers.register_adapter.errors import (
    AdapterFencedError,
    ProgressTopicUnavailableError,
    RegisterFileError,
)
from producers.register_adapter.progress import FileProgress
from producers.register_adapter.results import AdapterStats, FileResult, FileStatus
from producers.register_adapter.rows import RowProblem

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "AdapterFencedError",
    "AdapterStats",
    "FileProgress",
    "FileResult",
    "FileStatus",
    "ProgressTopicUnavailableError",
    "RegisterAdapter",
    "RegisterFileError",
    "RowProblem",
]
