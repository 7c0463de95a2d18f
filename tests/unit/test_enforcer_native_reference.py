"""The native parts of the per-event path (native/: Ed25519, the SD-JWT digest, murmur2) change
nothing process() writes: for the fuzzer's hostile and honest records, the native path and the
pure-Python reference (PyNaCl's check, hashlib's digest, aiokafka's murmur2) write the same
records, take the same decisions and quarantine for the same reasons with the same details."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.enforcer.pipeline import InRecord, Outcome, process
from bus.envelope import sdjwt
from bus.kafka import key_partition
from bus.keys import KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.keys.signature_check import reference_check
from bus.util.encoding import sd_digest_reference
from bus.util.native import NATIVE
from tests.support.enforcer_fuzz import KEY, NOW, fuzz_state, hostile_records

NATIVE_STATE = fuzz_state()
_key = public_key_from_pem(KEY.agency_id, KEY.public_pem())
REFERENCE_STATE = replace(
    NATIVE_STATE, keys=KeyStore([replace(_key, check_signature=reference_check(_key.verify_key))])
)


@contextmanager
def _reference_functions() -> Iterator[None]:
    # The modules' own names, swapped for the reference functions and back.
    native = (getattr(sdjwt, "sd_digest"), key_partition.murmur2)  # noqa: B009
    setattr(sdjwt, "sd_digest", sd_digest_reference)  # noqa: B010
    key_partition.murmur2 = reference_murmur2
    try:
        yield
    finally:
        setattr(sdjwt, "sd_digest", native[0])  # noqa: B010
        key_partition.murmur2 = native[1]


def _written(outcome: Outcome) -> list[tuple[str, bytes | None, bytes, object]]:
    return [(r.topic, r.key, r.value, list(r.headers)) for r in outcome.records]


def test_the_states_differ_in_their_checks() -> None:
    assert NATIVE  # native/ is built: otherwise both sides would be the reference
    native_key, reference_key = (s.keys.get(_key.kid) for s in (NATIVE_STATE, REFERENCE_STATE))
    assert native_key is not None
    assert reference_key is not None
    assert native_key.check_signature is not reference_key.check_signature
    with _reference_functions():
        assert getattr(sdjwt, "sd_digest") is sd_digest_reference  # noqa: B009


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_records())
def test_native_and_reference_paths_write_the_same(record: InRecord) -> None:
    _same_on_both_paths(record)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_records(), st.integers(min_value=0), st.integers(0, 7))
def test_a_flipped_bit_gets_the_same_answer_on_both_paths(
    record: InRecord, position: int, bit: int
) -> None:
    # Anywhere in the token: the signature, the signed JWT, a disclosure, a separator.
    if record.value:
        value = bytearray(record.value)
        value[position % len(value)] ^= 1 << bit
        record = replace(record, value=bytes(value))
    _same_on_both_paths(record)


def _same_on_both_paths(record: InRecord) -> None:
    native = process(record, replace(NATIVE_STATE), NOW)
    sdjwt._valid_headers.clear()
    with _reference_functions():
        reference = process(record, replace(REFERENCE_STATE), NOW)
    sdjwt._valid_headers.clear()
    assert _written(native) == _written(reference)
    assert native.decisions == reference.decisions
    assert native.quarantine_reason == reference.quarantine_reason
    assert native.quarantine_detail == reference.quarantine_detail
