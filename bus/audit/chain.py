"""The hash chain: each stored record's hash covers the previous hash, its position and its bytes.

The position (seq) is inside the hash so that renumbering rows, to hide a deletion or an
insertion, breaks the records it touches.
"""

import hashlib

GENESIS = bytes(32)


def link(previous: bytes, seq: int, record: bytes) -> bytes:
    """The hash of record `seq`: SHA-256 of the previous hash (GENESIS for the first), seq as
    8 big-endian bytes, and the record's bytes."""
    return hashlib.sha256(previous + seq.to_bytes(8, "big") + record).digest()
