"""Files holding secrets (keys, passwords) or personal data (databases, broker data, logs):
readable by their owner only, from the first byte.

Every process the project starts runs with umask 077 (`PRIVATE_UMASK`: the `bus` command sets it
first thing, and the broker and PostgreSQL are spawned with it), so whatever they create is 0600
or 0700. The functions here do not rely on that: they are also right when the project's code runs
inside another program (a test, an agency's own service) with a laxer umask, and they tighten a
file or directory an earlier version left readable by others.
"""

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bus.errors import ConfigError

PRIVATE_UMASK = 0o077
_NOT_OWNER = 0o077  # group and world bits


def create_private(path: Path, data: bytes) -> None:
    """Create `path` (mode 0600, parents as needed); refuse to overwrite (O_EXCL), so two processes
    starting at once never end up with different secrets."""
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_private(path: Path, text: str) -> None:
    """Write (or replace) a file only its owner can read: the text goes into a new 0600 file
    beside it, which then takes its name. So an existing file that others could read (an earlier
    0644 one) never holds a byte of the new text, and readers see the old text or the new, whole.
    A symlink at `path` is refused rather than followed or replaced."""
    make_private_dirs(path.parent)
    if path.is_symlink():
        raise ConfigError(
            f"{path} is a symbolic link: refused (a private file is never written there)"
        )
    fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(draft, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(draft)
        raise


def create_private_file(path: Path) -> None:
    """Make sure `path` exists, readable by its owner only, without touching its content: for a
    file another library then opens (SQLite gives its -wal and -shm files the database's mode)."""
    make_private_dirs(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # not opened for writing: a read-only copy stays readable
        tighten(path)


def make_private_dirs(path: Path) -> None:
    """Create `path` and any missing parents 0700. Existing directories are left as they are (a
    path the caller was given may sit in a directory it does not own); see `make_private_dir`."""
    missing: list[Path] = []
    for directory in (path, *path.parents):
        if directory.is_dir():
            break
        missing.append(directory)
    for directory in reversed(missing):
        with suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(directory, 0o700)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")


def make_private_dir(path: Path) -> None:
    """A directory the project owns (state, broker data, logs): created 0700, or tightened to
    0700 if an earlier install left it open."""
    make_private_dirs(path)
    tighten(path)


def tighten(path: Path) -> None:
    """Take group's and world's access to `path` away (0644 becomes 0600, 0755 0700), if it belongs
    to this user (a path owned by someone else, reached as root, is not the project's to change)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_mode & _NOT_OWNER and status.st_uid == os.geteuid():
        path.chmod(stat.S_IMODE(status.st_mode) & ~_NOT_OWNER)


def tighten_tree(root: Path) -> None:
    """`tighten` `root` and every directory and file under it."""
    tighten(root)
    for directory, subdirectories, files in os.walk(root):  # links are not followed
        for name in (*subdirectories, *files):
            path = Path(directory, name)
            if not path.is_symlink():  # a link's target is not ours to change
                tighten(path)


@contextmanager
def private_umask() -> Iterator[None]:
    """Umask 077 while spawning a child (it inherits the umask at spawn); restored afterwards."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)
