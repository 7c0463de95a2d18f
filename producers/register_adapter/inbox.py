"""The folder the legacy register drops its exports into, and where finished files go.

Ready: `*.csv` files, taken in name order. The register writes `name.csv.part` (or `.name.csv`) and
renames it when complete, so a half-written file is never read. Finished files move to `done/`
(with `<name>.rejected.txt` listing their bad rows, if any); files that are not register exports
move to `rejected/` with `<name>.error.txt`.
"""

import os
from pathlib import Path

from producers.register_adapter.csv_file import sha256_hex

DONE = "done"
REJECTED = "rejected"


class Inbox:
    """The register's drop folder `folder`, with `done/` and `rejected/` below it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.done = folder / DONE
        self.rejected = folder / REJECTED

    def ready_files(self) -> list[Path]:
        """The complete exports waiting, in name order; FileNotFoundError if the folder is gone."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"inbox folder {self.folder} does not exist")
        return sorted(
            path
            for path in self.folder.glob("*.csv")
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(".part")
        )

    def in_done(self, name: str, sha256: str) -> bool:
        """Whether `done/` holds a file of this name with exactly this content."""
        path = self.done / name
        return path.is_file() and sha256_hex(path.read_bytes()) == sha256

    def archive(self, path: Path, sha256: str, notes: dict[str, str]) -> Path:
        """Move `path` into `done/`; write each note first as `<moved name><suffix>`."""
        return self._move(path, self.done, sha256, notes)

    def reject(self, path: Path, sha256: str, error: str) -> Path:
        """Move `path` into `rejected/`, with `error` beside it as `<moved name>.error.txt`."""
        return self._move(path, self.rejected, sha256, {".error.txt": error + "\n"})

    def _move(self, path: Path, folder: Path, sha256: str, notes: dict[str, str]) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = _free_name(folder, path.name, sha256)
        # Notes first: if the process dies before the move, the next start writes them again.
        for suffix, text in notes.items():
            _write_atomically(folder / f"{target.name}{suffix}", text)
        os.replace(path, target)
        return target


def _free_name(folder: Path, name: str, sha256: str) -> Path:
    """`folder/name`, unless a different file holds that name: then the name with a content tag."""
    target = folder / name
    if not target.exists() or sha256_hex(target.read_bytes()) == sha256:
        return target
    stem, dot, suffix = name.rpartition(".")
    return folder / (f"{stem}.{sha256[:12]}{dot}{suffix}" if dot else f"{name}.{sha256[:12]}")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, temporary.with_name(path.name))
