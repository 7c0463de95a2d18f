"""Where the project's files live: the source tree, runtime state (per clone) and caches (per user)."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = PROJECT_ROOT / "deploy"


def default_state_dir() -> Path:
    """Runtime state (broker data, logs, keys, databases): `var/` in this clone, so clones don't
    collide. Personal data and secrets: 0700, which the `bus` command enforces at each start."""
    # An empty BUS_HOME counts as unset: not the current directory.
    return Path(os.environ.get("BUS_HOME") or PROJECT_ROOT / "var")


def default_cache_dir() -> Path:
    """Downloaded artefacts shared by all clones of this user, kept outside git."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "govbus"
