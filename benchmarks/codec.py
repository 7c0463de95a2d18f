"""Codec benchmark: issue, present and verify of an AddressChanged, against baselines in the same run.

    .venv/bin/python -m benchmarks.codec [--seconds 2]

Baselines: the Ed25519 signature alone (libsodium sign/verify, the floor no SD-JWT code can beat),
`cryptography`'s Ed25519 verify (what the stack would use without PyNaCl), and the pure-Python
reference path (PyNaCl's check, the hashlib digest) beside the native one (native/) in use.
Targets (issue 3): verify ≤ 100 µs, present ≤ 30 µs.
"""

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus.envelope import sdjwt
from bus.envelope.codec import issue_event, present, verify_event
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.keys.signature_check import reference_check
from bus.util import native
from bus.util.encoding import sd_digest, sd_digest_reference
from tests.support.events import address_changed

RELEASED = {"subject_id", "new_address", "effective_date"}


def measure_all(cases: dict[str, Callable[[], object]], seconds: float) -> dict[str, float]:
    """Median µs per op of each case over 7 rounds. Rounds interleave the cases, so a noisy moment
    on this (virtual) machine slows all of them alike and the ratios stay meaningful."""
    batches = {}
    for name, operation in cases.items():
        start, runs = time.perf_counter(), 0
        while time.perf_counter() - start < 0.05:
            operation()
            runs += 1
        batches[name] = max(1, int(runs * seconds / 0.05 / 7))
    rounds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(7):
        for name, operation in cases.items():
            start = time.perf_counter()
            for _ in range(batches[name]):
                operation()
            rounds[name].append((time.perf_counter() - start) / batches[name] * 1e6)
    return {name: statistics.median(values) for name, values in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per operation")
    seconds = parser.parse_args().seconds

    key = AgencySigningKey.generate("muni-munich")
    keys = KeyStore([public_key_from_pem(key.agency_id, key.public_pem())])
    event = address_changed()
    token = issue_event(event, key).token
    presented = present(token, RELEASED)
    verified = verify_event(token, keys)
    message = token.split("~")[0].encode()
    signature = key.sign(message)
    public = keys.get(key.kid)
    assert public is not None
    reference_keys = KeyStore(
        [dataclasses.replace(public, check_signature=reference_check(public.verify_key))]
    )
    disclosure = token.split("~")[1]
    pyca = Ed25519PrivateKey.generate()
    pyca_signature = pyca.sign(message)
    pyca_public = pyca.public_key()

    cases: dict[str, Callable[[], object]] = {
        "baseline: Ed25519 sign (libsodium)": lambda: key.sign(message),
        "baseline: Ed25519 verify (libsodium)": lambda: public.verify_key.verify(
            message, signature
        ),
        "baseline: Ed25519 verify (cryptography)": lambda: pyca_public.verify(
            pyca_signature, message
        ),
        "Ed25519 verify, the check in use": lambda: public.check_signature(message, signature),
        "SD-JWT digest, hashlib (reference)": lambda: sd_digest_reference(disclosure),
        "SD-JWT digest, the one in use": lambda: sd_digest(disclosure),
        "issue (6 disclosures)": lambda: issue_event(event, key),
        "present (3 of 6, from token)": lambda: present(token, RELEASED),
        "present (3 of 6, after verify)": lambda: verified.present(RELEASED),
        "verify (6 disclosures)": lambda: verify_event(token, keys),
        "verify (3 of 6 disclosures)": lambda: verify_event(presented, keys),
        "verify (6), reference check and digest": lambda: _reference_verify(token, reference_keys),
    }
    results = measure_all(cases, seconds)
    print(f"native verifier and digest (native/): {'in use' if native.NATIVE else 'NOT BUILT'}")
    print(f"{'operation':42} {'µs/op':>9} {'ops/s':>10}")
    for name, per_op in results.items():
        print(f"{name:42} {per_op:9.1f} {1e6 / per_op:10.0f}")

    verify_floor = results["baseline: Ed25519 verify (libsodium)"]
    sign_floor = results["baseline: Ed25519 sign (libsodium)"]
    verify_us = results["verify (6 disclosures)"]
    issue_us = results["issue (6 disclosures)"]
    present_us = results["present (3 of 6, from token)"]
    print()
    print(
        f"verify / signature verify: {verify_us / verify_floor:.2f}x "
        f"(SD-JWT work on top of the signature: {verify_us - verify_floor:.1f} µs)"
    )
    print(
        f"issue / signature sign:    {issue_us / sign_floor:.2f}x "
        f"(SD-JWT work on top of the signature: {issue_us - sign_floor:.1f} µs)"
    )
    reference_us = results["verify (6), reference check and digest"]
    print(
        f"verify, native / reference:  {verify_us / reference_us:.2f}x "
        f"({reference_us - verify_us:.1f} µs saved per event)"
    )
    print(f"target verify ≤ 100 µs: {'met' if verify_us <= 100 else 'MISSED'} ({verify_us:.1f} µs)")
    print(
        f"target present ≤ 30 µs: {'met' if present_us <= 30 else 'MISSED'} ({present_us:.1f} µs)"
    )


def _reference_verify(token: str, keys: KeyStore) -> object:
    """verify_event on the pure-Python reference path: PyNaCl's check and hashlib's digest."""
    setattr(sdjwt, "sd_digest", sd_digest_reference)  # noqa: B010 - the module's global, swapped
    try:
        return verify_event(token, keys)
    finally:
        setattr(sdjwt, "sd_digest", sd_digest)  # noqa: B010


if __name__ == "__main__":
    main()
