"""The native Ed25519 verifier (native/, dalek `verify_strict` behind a key check) accepts exactly
the signatures PyNaCl (libsodium) accepts: honest ones, altered ones, and the crafted edge cases
where Ed25519 verifiers disagree (small-order and mixed-order points, S >= L, non-canonical
encodings; Chalkias et al., "Taming the many EdDSAs", 2020). Points are built with libsodium's own
group operations; the signature arithmetic is done here, so that signatures no honest signer
makes can be tried.

An agency is assumed hostile: it holds a valid key and may sign anything, or register a crafted
public key. If the two verifiers differed, it could pass tokens the enforcer accepts and a
consumer's own check refuses, or the reverse."""

import hashlib
import secrets

import govbus_native
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings
from nacl.signing import SigningKey, VerifyKey

from bus.keys import keystore, signature_check
from bus.keys.signature_check import reference_check
from bus.util import native

L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the base point's group
P = 2**255 - 19
IDENTITY = (1).to_bytes(32, "little")
# A point of order 8; its multiples are the whole torsion group (asserted below).
TORSION_GENERATOR = bytes.fromhex(
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
)


def _torsion() -> list[bytes]:
    points = [IDENTITY]
    for _ in range(7):
        points.append(bindings.crypto_core_ed25519_add(points[-1], TORSION_GENERATOR))
    return points


TORSION = _torsion()  # TORSION[j] = j · TORSION_GENERATOR


def _scalar(n: int) -> bytes:
    return (n % L).to_bytes(32, "little")


def _times_base(n: int) -> bytes:
    return bindings.crypto_scalarmult_ed25519_base_noclamp(_scalar(n))


def _challenge(r_bytes: bytes, a_bytes: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r_bytes + a_bytes + message).digest(), "little") % L


def _signature(
    r_bytes: bytes, r: int, a: int, a_bytes: bytes, message: bytes, extra: int = 0
) -> bytes:
    """R ‖ S with S = r + k·a (+ `extra`, e.g. L for a non-canonical S), k = H(R ‖ A ‖ M)."""
    s = (r + _challenge(r_bytes, a_bytes, message) * a) % L + extra
    return r_bytes + s.to_bytes(32, "little")


def _both(public_key: bytes, message: bytes, signature: bytes) -> tuple[bool, bool]:
    """(native verdict, libsodium verdict) for one signature; a key the native verifier refuses
    counts as refusing every signature."""
    try:
        native = govbus_native.Ed25519Verifier(public_key).verify(message, signature)
    except ValueError:
        native = False
    return native, reference_check(VerifyKey(public_key))(message, signature)


def test_the_torsion_points_are_the_eight_distinct_points_of_small_order() -> None:
    assert len(set(TORSION)) == 8
    assert bindings.crypto_core_ed25519_add(TORSION[7], TORSION_GENERATOR) == IDENTITY


def test_the_key_store_checks_signatures_natively() -> None:
    # Fails where native/ was not built: CI must measure and test the native path.
    assert native.NATIVE
    key = SigningKey.generate()
    pem_key = keystore.AgencyPublicKey(
        "muni-muc", "kid", key.verify_key, signature_check.signature_check(bytes(key.verify_key))
    )
    assert isinstance(pem_key.check_signature.__self__, govbus_native.Ed25519Verifier)  # type: ignore[attr-defined]
    signed = key.sign(b"m")
    assert pem_key.check_signature(b"m", signed.signature)
    assert not pem_key.check_signature(b"n", signed.signature)


@settings(max_examples=300)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(max_size=200),
    flip=st.integers(min_value=-1, max_value=(64 + 200) * 8 - 1),
)
def test_honest_and_altered_signatures_get_the_same_verdict(
    seed: bytes, message: bytes, flip: int
) -> None:
    key = SigningKey(seed)
    signature = key.sign(message).signature
    if flip >= 0:  # one bit of the signature or the message flipped
        blob = bytearray(signature + message)
        if flip // 8 < len(blob):
            blob[flip // 8] ^= 1 << (flip % 8)
        signature, message = bytes(blob[:64]), bytes(blob[64:])
    native, libsodium = _both(bytes(key.verify_key), message, signature)
    assert native == libsodium
    assert native == (flip < 0 or flip // 8 >= 64 + len(message))


def _key() -> tuple[int, bytes]:
    a = secrets.randbelow(L - 1) + 1
    return a, _times_base(a)


def test_the_helpers_make_signatures_both_accept() -> None:
    a, a_bytes = _key()
    r = secrets.randbelow(L - 1) + 1
    assert _both(a_bytes, b"m", _signature(_times_base(r), r, a, a_bytes, b"m")) == (True, True)


def test_a_non_canonical_s_is_refused_by_both() -> None:
    # S + L satisfies the equation as S does; both verifiers require S < L.
    a, a_bytes = _key()
    r = secrets.randbelow(L - 1) + 1
    signature = _signature(_times_base(r), r, a, a_bytes, b"m", extra=L)
    assert _both(a_bytes, b"m", signature) == (False, False)


def test_an_identity_r_is_refused_by_both_though_the_equation_holds() -> None:
    # R = identity, S = k·a: [S]B - [k]A = R exactly. Batch verification would accept it.
    a, a_bytes = _key()
    for message in (b"m", b"n", b"o"):
        assert _both(a_bytes, message, _signature(IDENTITY, 0, a, a_bytes, message)) == (
            False,
            False,
        )


@pytest.mark.parametrize("j", range(8))
def test_a_small_order_key_is_refused(j: int) -> None:
    # Whatever the signer grinds: R = T_m, S = 0 passes the cofactorless equation iff T_m = -k·A.
    with pytest.raises(ValueError, match=r"small order|not a point"):
        govbus_native.Ed25519Verifier(TORSION[j])
    for attempt in range(64):
        message = attempt.to_bytes(2, "little")
        for m in range(8):
            signature = TORSION[m] + bytes(32)
            assert _both(TORSION[j], message, signature) == (False, False)


def test_mixed_order_key_and_nonce_get_the_same_verdict() -> None:
    """A = [a]B + T, R = [r]B + [j]T: the cofactorless equation holds iff j + k ≡ 0 (mod 8). Both
    accept exactly those; a batch verifier would accept others, by chance a signer can grind."""
    a, clean = _key()
    a_bytes = bindings.crypto_core_ed25519_add(clean, TORSION_GENERATOR)
    verdicts: dict[bool, int] = {True: 0, False: 0}
    for _ in range(200):
        r = secrets.randbelow(L - 1) + 1
        j = secrets.randbelow(8)
        r_bytes = (
            bindings.crypto_core_ed25519_add(_times_base(r), TORSION[j]) if j else _times_base(r)
        )
        message = secrets.token_bytes(8)
        holds = (j + _challenge(r_bytes, a_bytes, message)) % 8 == 0
        native, libsodium = _both(a_bytes, message, _signature(r_bytes, r, a, a_bytes, message))
        assert native == libsodium == holds
        verdicts[holds] += 1
    # Both kinds were tried.
    assert verdicts[True] > 0
    assert verdicts[False] > 0


def _non_canonical(y: int, sign: int) -> bytes:
    return ((P + y) | (sign << 255)).to_bytes(32, "little")


@pytest.mark.parametrize("y", range(19))
def test_non_canonical_encodings_are_refused(y: int) -> None:
    """y + p for y < 19 is the only room for a second encoding. As a key: refused by both. As R:
    the equation compares R's bytes with a canonical encoding, so both refuse."""
    _, a_bytes = _key()
    for sign in (0, 1):
        encoding = _non_canonical(y, sign)
        with pytest.raises(ValueError, match=r"non-canonical|not a point"):
            govbus_native.Ed25519Verifier(encoding)
        assert _both(encoding, b"m", IDENTITY + bytes(32)) == (False, False)
        for s in (0, 1, secrets.randbelow(L)):
            signature = encoding + s.to_bytes(32, "little")
            assert _both(a_bytes, b"m", signature) == (False, False)


@pytest.mark.parametrize("length", [0, 32, 63, 65])
def test_a_signature_of_the_wrong_length_does_not_verify(length: int) -> None:
    key = SigningKey.generate()
    verifier = govbus_native.Ed25519Verifier(bytes(key.verify_key))
    assert not verifier.verify(b"m", key.sign(b"m").signature[:length].ljust(length, b"\0"))


@pytest.mark.parametrize("length", [0, 31, 33])
def test_a_public_key_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        govbus_native.Ed25519Verifier(bytes(length))
