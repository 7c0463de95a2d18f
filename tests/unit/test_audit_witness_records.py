"""Checkpoints as the witness topic carries them: everything they sign travels, a record that is
not one is refused, and the positions and cadence are inside the signature."""

from dataclasses import replace

import pytest

from bus.audit.audit_key import KEY_NAME
from bus.audit.checkpoint import DEFAULT_CADENCE, Cadence, sign_checkpoint, signature_valid
from bus.audit.witness import decode_checkpoint, encode_checkpoint
from bus.keys import AgencySigningKey
from bus.keys.keystore import public_key_from_pem

KEY = AgencySigningKey.generate(KEY_NAME)
PUBLIC = public_key_from_pem(KEY_NAME, KEY.public_pem())
POSITIONS = (("bus.audit", 0, 120), ("bus.audit", 1, 98), ("bus.policy", 0, 3))
CHECKPOINT = sign_checkpoint(
    KEY, 1_000, bytes(range(32)), "2026-12-02T12:00:00Z", POSITIONS, DEFAULT_CADENCE
)


def test_a_published_checkpoint_comes_back_whole_and_verifies() -> None:
    back = decode_checkpoint(encode_checkpoint(CHECKPOINT))
    assert back == CHECKPOINT
    assert signature_valid(PUBLIC, back)
    assert back.position("bus.audit", 1) == 98


@pytest.mark.parametrize(
    "changed",
    [
        replace(CHECKPOINT, positions=(("bus.audit", 0, 100), *POSITIONS[1:])),  # lowered
        replace(CHECKPOINT, positions=POSITIONS[1:]),  # a partition left out
        replace(CHECKPOINT, cadence=Cadence(records=1_000_000, ms=DEFAULT_CADENCE.ms)),
        replace(CHECKPOINT, seq=999),
    ],
)
def test_positions_and_cadence_are_inside_the_signature(changed: object) -> None:
    assert not signature_valid(PUBLIC, changed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"not json",
        b"{}",
        encode_checkpoint(CHECKPOINT).replace(b'"seq":1000', b'"seq":"1000"'),
        encode_checkpoint(CHECKPOINT)[:-1] + b',"extra":1}',
    ],
)
def test_anything_else_on_the_topic_is_not_a_checkpoint(value: bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        decode_checkpoint(value)
