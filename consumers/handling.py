"""What the consumer SDK does with a delivery, decided by pure functions (no Kafka, no database),
as the enforcer's `process()` decides; consumers/consumer.py carries the decisions out.

Before the handler: a delivery the SDK refused (bad signature, wrong purpose, no deadline) is
dead-lettered, one already in the inbox is skipped, one without a handler is dead-lettered, and
the rest is applied. After a handler failure: an error that would repeat on every attempt (a bug
in the handler, a withheld field, `RejectDelivery`) is dead-lettered at once; another writer that
recorded the delivery first makes it a duplicate; anything else is retried with backoff up to the
policy's bound, then dead-lettered.
"""

from dataclasses import dataclass

from consumers.dead_letters import HANDLER_FAILED, HANDLER_REJECTED, NO_HANDLER
from consumers.errors import RejectDelivery, WithheldFieldError
from consumers.retry import RetryPolicy


@dataclass(frozen=True)
class Apply:
    """Run the handler and record the delivery in the same transaction."""


@dataclass(frozen=True)
class Skip:
    """Already handled (a redelivery, or a copy republished with the same id): do nothing."""


@dataclass(frozen=True)
class Retry:
    """Wait `delay_s`, then run the handler again."""

    delay_s: float


@dataclass(frozen=True)
class DeadLetter:
    """Park the delivery on the agency's dead-letter topic with `reason` and `detail`."""

    reason: str
    detail: str


Step = Apply | Skip | Retry | DeadLetter

# Errors that a retry cannot cure: the same delivery, the same code, the same error. Database and
# network errors (OSError, sqlite3.OperationalError, psycopg's) are not among them.
DETERMINISTIC_ERRORS: tuple[type[BaseException], ...] = (
    AttributeError,  # e.g. `event.event_id` for `event.id`; WithheldFieldError is one too
    TypeError,
    NameError,
    LookupError,
    ValueError,
    AssertionError,
    NotImplementedError,
    RejectDelivery,
)


@dataclass(frozen=True)
class Refusal:
    """Why the SDK refused a delivery before any handler could see it."""

    reason: str
    detail: str


def before_handler(
    refusal: Refusal | None, already_handled: bool, handler_found: bool, what: str
) -> Apply | Skip | DeadLetter:
    """The step for a delivery before its handler runs. `what` names it in a dead letter
    ("population.AddressChanged for 'tax-residence'")."""
    if refusal is not None:
        return DeadLetter(refusal.reason, refusal.detail)
    if already_handled:
        return Skip()
    if not handler_found:
        return DeadLetter(NO_HANDLER, f"no handler for {what}")
    return Apply()


def after_failure(
    error: BaseException, attempt: int, retry: RetryPolicy, recorded_meanwhile: bool
) -> Skip | Retry | DeadLetter:
    """The step after attempt number `attempt` (1-based) of a handler failed with `error`.
    `recorded_meanwhile`: the error is the inbox's own key violation and the delivery is now in
    the inbox (another writer handled it first: its effects stand, ours rolled back)."""
    if recorded_meanwhile:
        return Skip()
    if isinstance(error, WithheldFieldError):
        return DeadLetter(error.reason, str(error))
    if isinstance(error, RejectDelivery):
        return DeadLetter(HANDLER_REJECTED, str(error))
    detail = f"{type(error).__name__}: {error}"
    if isinstance(error, DETERMINISTIC_ERRORS) or attempt >= retry.attempts:
        return DeadLetter(HANDLER_FAILED, detail)
    return Retry(retry.delay_after(attempt))
