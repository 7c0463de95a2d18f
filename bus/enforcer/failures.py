"""What the loop does when a transaction for one input partition keeps failing: never retry the
same thing forever, never lose a record, never hold up other partitions.

1. Retry the batch (a broker restart or a coordinator move passes), with growing back-off.
2. Then go through that batch one record per transaction: its good records pass, and the
   record at fault is retried alone, so its neighbours are not held hostage.
3. If that record alone still fails for a reason of its own (one of the listed errors about the
   record: too large, corrupt; or a ProcessingFault, raised by the enforcer's own work on it), set
   it aside: its original bytes go to quarantine with reason INTERNAL_ERROR and the error type,
   and an audit record, in one transaction with its offset. Nothing is lost (the quarantine topic
   takes every record the ingress topic accepts), exactly-once holds (it is one more
   transaction), and the partition moves on.
4. If the failure is not known to be the record's (timeouts, a missing topic, a broker refusing
   everything, any other exception from the Kafka client) or setting aside fails too,
   quarantining would divert good events: the partition stalls instead. It is paused, an alert
   gauge is set and an error names it; it is tried again every RetryTimes.stall_s, and other
   partitions carry on. A stall is the operator's to fix, and resolves itself when the cause is
   gone.
"""

from dataclasses import dataclass
from enum import Enum

from confluent_kafka import KafkaError, KafkaException

BATCH_ATTEMPTS = 3
ALONE_ATTEMPTS = 3
SET_ASIDE_ATTEMPTS = 2
# What the client or the broker says about a record itself: too large, corrupt, a bad timestamp.
_RECORD_FAULT_CODES = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_TIMESTAMP,
    }
)


class ProcessingFault(Exception):
    """The enforcer's own work on a record failed (computing its outputs, not writing them): the
    record's fault, as far as the retry plan is concerned. The cause is chained."""


class Plan(Enum):
    """How the next transaction of a failing partition is made: the whole batch, one record at a
    time, or setting the record at fault aside (see the steps above)."""

    BATCH = "batch"
    ALONE = "alone"
    SET_ASIDE = "set aside"


def kafka_error(error: BaseException) -> KafkaError | None:
    """The KafkaError librdkafka raised `error` with (its code, fatal or abortable), if it did."""
    cause = error.args[0] if isinstance(error, KafkaException) and error.args else None
    return cause if isinstance(cause, KafkaError) else None


def is_record_fault(error: BaseException) -> bool:
    """Whether the error is known to be about the record itself, so retrying it can never succeed.
    Anything else, whatever its type, may pass: never a reason to set a good event aside."""
    if isinstance(error, ProcessingFault):
        return True
    cause = kafka_error(error)
    return cause is not None and cause.code() in _RECORD_FAULT_CODES


def error_name(error: BaseException) -> str:
    """What an operator reads about `error`: the Kafka error's name (MSG_SIZE_TOO_LARGE, ...)
    rather than librdkafka's one exception type, else the exception's type."""
    cause = kafka_error(error)
    return str(cause.name()) if cause is not None else type(error).__name__


@dataclass
class _Streak:
    """Consecutive failures of transactions starting at `offset`."""

    offset: int
    batch: int = 0
    alone: int = 0
    set_aside: int = 0
    record_fault: bool = False
    stalled: bool = False
    error: str = ""


@dataclass(frozen=True)
class Verdict:
    """After a failed transaction: how long to wait before the next try, and whether the
    partition has stalled (paused with the alert)."""

    backoff_s: float
    stalled: bool


@dataclass(frozen=True)
class RetryTimes:
    """How long the loop waits before it tries a partition again, in seconds."""

    first_backoff_s: float = 0.2  # doubling per attempt, at most max_backoff_s
    max_backoff_s: float = 5.0
    stall_s: float = 60.0  # a stalled partition
    unexpected_s: float = 5.0  # after a failure _transact did not handle itself
    # After a fence: longer than a rebalance takes to reach us, should another enforcer own it now.
    fenced_s: float = 15.0


class Failures:
    """Per partition: the failing streak, and how far records go one at a time (up to the end of
    a batch that failed as a whole, so one record at fault costs its neighbours one transaction
    each, not a retry cycle each)."""

    def __init__(self, times: RetryTimes = RetryTimes()) -> None:
        """`times`: the back-off and stall intervals the verdicts carry."""
        self.times = times
        self._streaks: dict[tuple[str, int], _Streak] = {}
        self._one_at_a_time_until: dict[tuple[str, int], int] = {}

    def plan(self, partition: tuple[str, int], offset: int) -> Plan:
        """How to make the next transaction of `partition` (topic, number) from `offset`."""
        streak = self._streaks.get(partition)
        at_fault = streak is not None and streak.offset == offset and streak.record_fault
        if at_fault and streak is not None and streak.alone >= ALONE_ATTEMPTS:
            return Plan.SET_ASIDE
        if self._one_at_a_time_until.get(partition, -1) >= offset:
            return Plan.ALONE
        return Plan.BATCH

    def failed(
        self, partition: tuple[str, int], plan: Plan, first: int, last: int, error: BaseException
    ) -> Verdict:
        """A transaction over offsets first..last, made as `plan`, failed with `error`."""
        streak = self._streaks.get(partition)
        if streak is None or streak.offset != first:
            streak = self._streaks[partition] = _Streak(first)
        if plan is Plan.BATCH:
            streak.batch += 1
            if streak.batch >= BATCH_ATTEMPTS:
                until = max(last, self._one_at_a_time_until.get(partition, -1))
                self._one_at_a_time_until[partition] = until
        elif plan is Plan.ALONE:
            streak.alone += 1
        else:
            streak.set_aside += 1
        streak.record_fault = is_record_fault(error)
        cause = error.__cause__ if isinstance(error, ProcessingFault) else None
        streak.error = error_name(cause or error)
        streak.stalled = streak.set_aside >= SET_ASIDE_ATTEMPTS or (
            streak.alone >= ALONE_ATTEMPTS and not streak.record_fault
        )
        if streak.stalled:
            return Verdict(self.times.stall_s, stalled=True)
        attempts = streak.batch + streak.alone + streak.set_aside
        backoff = self.times.first_backoff_s * 2 ** (attempts - 1)
        return Verdict(min(backoff, self.times.max_backoff_s), stalled=False)

    def succeeded(self, partition: tuple[str, int], next_offset: int) -> bool:
        """A transaction committed up to `next_offset`; returns whether the partition had stalled."""
        if self._one_at_a_time_until.get(partition, next_offset) < next_offset:
            del self._one_at_a_time_until[partition]
        streak = self._streaks.pop(partition, None)
        return streak is not None and streak.stalled

    def failing(self, partition: tuple[str, int]) -> bool:
        """Whether `partition`'s last transaction failed (it goes in transactions of its own until
        one commits, so it holds up no other partition)."""
        return partition in self._streaks or partition in self._one_at_a_time_until

    def last_error(self, partition: tuple[str, int]) -> str:
        """The type name of the partition's last failure (its cause, for a ProcessingFault)."""
        streak = self._streaks.get(partition)
        return streak.error if streak is not None else "no error"

    def forget(self, partition: tuple[str, int]) -> None:
        """Drop what is known about `partition` (it was revoked)."""
        self._streaks.pop(partition, None)
        self._one_at_a_time_until.pop(partition, None)
