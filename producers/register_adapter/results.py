"""What became of each file, and running counts for a progress display."""

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from producers.register_adapter.rows import RowProblem


class FileStatus(StrEnum):
    """What became of a file in one pass."""

    PUBLISHED = "published"  # every row handled (this time, or partly before a restart)
    ALREADY_COMPLETE = "already-complete"  # published before; only moved to done/ now
    DUPLICATE = "duplicate"  # the same content was published before under another name
    REJECTED = "rejected"  # not a register export (header, encoding): nothing published
    INTERRUPTED = "interrupted"  # stopped mid-file; the next start resumes after the last chunk


@dataclass(frozen=True)
class FileResult:
    """`published` and `rejected` count the whole file, across restarts; `problems` lists the bad
    rows as `file:line: what is wrong`."""

    name: str
    sha256: str
    status: FileStatus
    published: int = 0
    rejected: int = 0
    problems: tuple[RowProblem, ...] = ()
    error: str | None = None
    duplicate_of: str | None = None
    moved_to: Path | None = None

    def summary(self) -> str:
        """One line saying what became of the file."""
        if self.status is FileStatus.REJECTED:
            return f"{self.name}: rejected: {self.error}"
        if self.status is FileStatus.DUPLICATE:
            return (
                f"{self.name}: not published again: same content as {self.duplicate_of}, "
                f"published before (sha256 {self.sha256[:12]}…)"
            )
        counts = f"{self.published} events published, {self.rejected} bad rows skipped"
        if self.status is FileStatus.INTERRUPTED:
            return f"{self.name}: interrupted after {counts}; the next start resumes"
        if self.status is FileStatus.ALREADY_COMPLETE:
            return f"{self.name}: published before ({counts}); moved to {self.moved_to}"
        return f"{self.name}: {counts}; moved to {self.moved_to}"

    def lines(self) -> list[str]:
        """The summary, then one line per bad row: what a caller prints."""
        return [self.summary(), *(f"  {p}" for p in self.problems)]


@dataclass
class AdapterStats:
    """Counts since this adapter started (a restarted file counts only what this run did)."""

    files_done: int = 0
    files_rejected: int = 0
    duplicates: int = 0
    rows_published: int = 0
    rows_rejected: int = 0
    # The file in progress: (name, records done, records in the file).
    current: tuple[str, int, int] | None = field(default=None)
