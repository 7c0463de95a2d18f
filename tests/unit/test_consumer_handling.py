"""The consumer SDK's skip/retry/dead-letter decisions, as pure functions."""

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.dead_letters import HANDLER_FAILED, HANDLER_REJECTED, NO_HANDLER, WRONG_PURPOSE
from consumers.errors import RejectDelivery, WithheldFieldError
from consumers.handling import (
    Apply,
    DeadLetter,
    Refusal,
    Retry,
    Skip,
    after_failure,
    before_handler,
)
from consumers.retry import RetryPolicy

RETRY = RetryPolicy(attempts=5, first_delay_s=0.2, max_delay_s=10.0)
WHAT = "population.AddressChanged delivered for 'tax'"


def test_a_refused_delivery_is_parked_with_its_reason_whatever_else_holds() -> None:
    refusal = Refusal(WRONG_PURPOSE, "not delivered for purpose 'tax'")
    for seen in (False, True):
        for found in (False, True):
            assert before_handler(refusal, seen, found, WHAT) == DeadLetter(
                WRONG_PURPOSE, "not delivered for purpose 'tax'"
            )


def test_a_handled_delivery_is_skipped_and_one_without_handler_parked() -> None:
    assert before_handler(None, True, True, WHAT) == Skip()
    assert before_handler(None, True, False, WHAT) == Skip()  # handled before its handler went
    assert before_handler(None, False, False, WHAT) == DeadLetter(
        NO_HANDLER, f"no handler for {WHAT}"
    )
    assert before_handler(None, False, True, WHAT) == Apply()


@pytest.mark.parametrize(
    "error",
    [
        AttributeError("'ReleasedEvent' object has no attribute 'event_id'"),
        TypeError("unsupported operand"),
        KeyError("street"),
        ValueError("invalid literal for int()"),
        NameError("name 'x' is not defined"),
    ],
)
def test_an_error_that_would_repeat_is_parked_at_the_first_attempt(error: Exception) -> None:
    step = after_failure(error, 1, RETRY, recorded_meanwhile=False)
    assert step == DeadLetter(HANDLER_FAILED, f"{type(error).__name__}: {error}")


def test_a_withheld_field_and_a_rejection_are_parked_under_their_own_reasons() -> None:
    withheld = WithheldFieldError("population.AddressChanged", "birth_date", "tax-by", "tax")
    assert after_failure(withheld, 1, RETRY, False) == DeadLetter("WITHHELD_FIELD", str(withheld))
    rejected = RejectDelivery("person not in our register")
    assert after_failure(rejected, 1, RETRY, False) == DeadLetter(
        HANDLER_REJECTED, "person not in our register"
    )


@pytest.mark.parametrize(
    "error",
    [OSError("connection reset"), sqlite3.OperationalError("database is locked"), RuntimeError()],
)
def test_a_transient_error_is_retried_with_backoff_then_parked(error: Exception) -> None:
    steps = [after_failure(error, n, RETRY, False) for n in range(1, RETRY.attempts + 1)]
    assert steps[:-1] == [Retry(0.2), Retry(0.4), Retry(0.8), Retry(1.6)]
    assert steps[-1] == DeadLetter(HANDLER_FAILED, f"{type(error).__name__}: {error}")


def test_losing_the_race_to_another_writer_is_a_duplicate_not_a_failure() -> None:
    error = sqlite3.IntegrityError("UNIQUE constraint failed: bus_inbox")
    assert after_failure(error, 1, RETRY, recorded_meanwhile=True) == Skip()
    # The same error with the delivery not in the inbox: the handler's own constraint, a bug.
    assert isinstance(after_failure(error, 1, RETRY, recorded_meanwhile=False), Retry)


@given(attempt=st.integers(min_value=1, max_value=50), attempts=st.integers(1, 20))
def test_nothing_is_retried_beyond_the_bound_and_nothing_is_dropped(
    attempt: int, attempts: int
) -> None:
    policy = RetryPolicy(attempts=attempts)
    step = after_failure(RuntimeError("flaky"), attempt, policy, False)
    # Every failure ends in a retry within the bound or a dead letter: never silently dropped.
    assert isinstance(step, Retry) == (attempt < attempts)
    assert isinstance(step, Retry | DeadLetter)
