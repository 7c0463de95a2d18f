"""Errors of the policy layer: a bad policy set names the file, the line, the key and what to do."""

from pathlib import Path

from bus.errors import ConfigError


class PolicyError(ConfigError):
    """The policy set cannot be loaded or compiled."""


class PolicyFileError(PolicyError):
    """A policy file is missing or wrong: the message names the file, the line and the key.

    `path`, `line` (None when the file as a whole is wrong), `key` (dotted, "" for none) and
    `problem` are kept for callers that point at the place themselves.
    """

    def __init__(self, path: Path, line: int | None, key: str, problem: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
