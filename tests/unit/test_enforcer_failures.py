"""The loop's retry plan for a failing partition: bounded, narrowed to one record per transaction,
the record at fault set aside if the fault is its own, and otherwise a stall with an alert."""

import pytest
from confluent_kafka import KafkaError, KafkaException

from bus.enforcer.failures import (
    ALONE_ATTEMPTS,
    BATCH_ATTEMPTS,
    SET_ASIDE_ATTEMPTS,
    Failures,
    Plan,
    ProcessingFault,
    RetryTimes,
    Verdict,
)

TP = ("bus.ingress.population.AddressChanged", 0)


def MessageSizeTooLargeError() -> KafkaException:  # reads as the error it makes
    """What librdkafka raises for a record larger than the producer or the broker takes."""
    return KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))


def KafkaTimeoutError() -> KafkaException:
    """A timeout: not known to be the record's fault."""
    return KafkaException(KafkaError(KafkaError._TIMED_OUT))


def _fail(failures: Failures, times: int, error: Exception, first: int = 7) -> list[Verdict]:
    """Let the planned transaction starting at `first` (up to offset 20) fail `times` times."""
    verdicts = []
    for _ in range(times):
        plan = failures.plan(TP, first)
        verdicts.append(failures.failed(TP, plan, first, 20, error))
    return verdicts


def test_a_failing_batch_goes_one_record_at_a_time_to_its_end() -> None:
    failures = Failures()
    assert failures.plan(TP, 7) is Plan.BATCH
    _fail(failures, BATCH_ATTEMPTS, MessageSizeTooLargeError())
    assert failures.plan(TP, 7) is Plan.ALONE
    failures.succeeded(TP, 8)  # record 7 alone went through: its neighbours follow one by one
    assert [failures.plan(TP, o) for o in (8, 20, 21)] == [Plan.ALONE, Plan.ALONE, Plan.BATCH]
    failures.succeeded(TP, 21)
    assert failures.plan(TP, 9) is Plan.BATCH  # past the failed batch: batches again


def test_the_record_at_fault_is_set_aside_when_the_fault_is_its_own() -> None:
    failures = Failures()
    _fail(failures, BATCH_ATTEMPTS + ALONE_ATTEMPTS, MessageSizeTooLargeError())
    assert failures.plan(TP, 7) is Plan.SET_ASIDE
    assert failures.last_error(TP) == "MSG_SIZE_TOO_LARGE"


def test_a_bug_in_our_code_is_a_record_fault_too() -> None:
    failures = Failures()
    fault = ProcessingFault("TypeError")
    fault.__cause__ = TypeError("bad header")
    _fail(failures, BATCH_ATTEMPTS + ALONE_ATTEMPTS, fault)
    assert failures.plan(TP, 7) is Plan.SET_ASIDE
    assert failures.last_error(TP) == "TypeError"  # what the set-aside copy's detail names


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),
        ConnectionResetError(),
        OSError("no route"),
        AssertionError(),
        RuntimeError("client state"),
        TypeError("inside the client"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_unlisted_error_from_the_kafka_client_stalls_and_never_sets_aside(
    error: Exception,
) -> None:
    # Before, any error that was not a KafkaError counted as the record's: a good event was set
    # aside in quarantine when, say, the client timed out outside its own error types.
    failures = Failures()
    verdicts = _fail(failures, BATCH_ATTEMPTS + ALONE_ATTEMPTS, error)
    assert verdicts[-1].stalled
    assert failures.plan(TP, 7) is Plan.ALONE


def test_a_failure_that_is_not_the_records_stalls_instead_of_quarantining() -> None:
    failures = Failures()
    verdicts = _fail(failures, BATCH_ATTEMPTS + ALONE_ATTEMPTS, KafkaTimeoutError())
    assert [v.stalled for v in verdicts] == [False] * (len(verdicts) - 1) + [True]
    assert verdicts[-1].backoff_s == RetryTimes().stall_s
    assert failures.plan(TP, 7) is Plan.ALONE  # never SET_ASIDE: good events are not diverted
    assert failures.succeeded(TP, 8)  # it had stalled; now it flows again
    assert failures.plan(TP, 8) is Plan.ALONE


def test_setting_aside_that_fails_too_stalls() -> None:
    failures = Failures()
    _fail(failures, BATCH_ATTEMPTS + ALONE_ATTEMPTS, MessageSizeTooLargeError())
    verdicts = _fail(failures, SET_ASIDE_ATTEMPTS, MessageSizeTooLargeError())
    assert [v.stalled for v in verdicts] == [False] * (SET_ASIDE_ATTEMPTS - 1) + [True]


def test_back_off_grows_and_is_capped() -> None:
    failures = Failures()
    backoffs = [v.backoff_s for v in _fail(failures, 5, MessageSizeTooLargeError())]
    assert backoffs == sorted(backoffs)
    assert backoffs[0] < backoffs[-1] <= 5.0
