"""Files holding secrets (keys, passwords): readable by their owner only, from the first byte."""

import os
from pathlib import Path


def create_private(path: Path, data: bytes) -> None:
    """Create `path` (mode 0600, parents as needed); refuse to overwrite (O_EXCL), so two processes
    starting at once never end up with different secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_private(path: Path, text: str) -> None:
    """Write (or overwrite) a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)
