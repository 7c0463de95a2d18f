"""The Ed25519 check on every event's path: govbus's native verifier (native/, Rust) when it is
installed, PyNaCl otherwise.

Both accept exactly the same signatures: the native one is dalek's `verify_strict` behind a key
check that refuses what libsodium refuses (tests/unit/test_native_ed25519.py compares them on
honest, altered and crafted small- and mixed-order signatures). The native one is faster because
it decodes each key once instead of on every call (benchmarks/codec.py). PyNaCl stays the
reference, and the fallback where no Rust toolchain built the extension.
"""

import logging
from collections.abc import Callable

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from bus.util import native

log = logging.getLogger(__name__)

SIGNATURE_BYTES = 64

# (message, 64-byte signature) → whether the signature verifies.
SignatureCheck = Callable[[bytes, bytes], bool]


def signature_check(raw_public_key: bytes) -> SignatureCheck:
    """The check for one 32-byte Ed25519 public key."""
    if native.NATIVE:
        try:
            return native.govbus_native.Ed25519Verifier(raw_public_key).verify
        except ValueError:
            # A non-canonical or small-order key: libsodium refuses every signature with it
            # itself, so the reference check below gives the same (negative) answers.
            log.warning(
                "an agency key is not canonical or of small order: no signature will verify"
            )
    return reference_check(VerifyKey(raw_public_key))


def reference_check(verify_key: VerifyKey) -> SignatureCheck:
    """PyNaCl's (libsodium's) check: the reference the native one is tested against."""

    def check(message: bytes, signature: bytes) -> bool:
        try:
            verify_key.verify(message, signature)
        except BadSignatureError:
            return False
        return True

    return check
