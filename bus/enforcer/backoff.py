"""The state watcher's retry waits: bus/util/backoff.py (the operator's watch uses them too)."""

from bus.util.backoff import Backoff

__all__ = ["Backoff"]
