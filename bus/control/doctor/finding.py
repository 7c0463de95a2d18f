"""What a check found: a problem, named so an operator can act on it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One problem: which check found it, what is wrong, and what to do about it."""

    check: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.problem} -> {self.fix}"


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict: its name, what it looked at, and its findings (none: healthy)."""

    check: str
    looked_at: str
    findings: tuple[Finding, ...]

    @property
    def healthy(self) -> bool:
        """Whether the check found nothing wrong."""
        return not self.findings
