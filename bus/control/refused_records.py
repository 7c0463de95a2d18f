"""A record on one of the bus's state topics (policy, subscriptions) that is not what it must be.

Such a record is skipped, never acted on: the state read from the topic is what the valid records
say. Readers return what they refused, so the caller can log and count it once."""

from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class RefusedRecord:
    """Where a refused record is (topic, offset, key) and why it was refused."""

    topic: str
    offset: int
    key: bytes | None
    reason: str

    def describe(self) -> str:
        """One line for the log."""
        key = self.key.decode(errors="replace") if self.key is not None else "no key"
        return f"{self.topic} offset {self.offset} (key {key}): {self.reason}"


def validation_summary(error: ValidationError, limit: int = 3) -> str:
    """The first problems of a pydantic error on one line: where, and what."""
    problems = [
        f"{'.'.join(str(part) for part in e['loc']) or 'record'}: {e['msg']}"
        for e in error.errors()[:limit]
    ]
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")
