"""Errors of the policy layer: a bad policy set names the file, the line, the key and what to do."""

from pathlib import Path

from bus.errors import ConfigError


class PolicyError(ConfigError):
    """The policy set cannot be loaded or compiled."""


class PolicyFileError(PolicyError):
    def __init__(self, path: Path, line: int | None, key: str, problem: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
