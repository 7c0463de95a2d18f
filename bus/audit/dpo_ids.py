"""Decision ids as an agency's data-protection officer (DPO) sees them: opaque, one set per agency.

The store numbers every decision on the bus in one sequence. Shown to a DPO, that number would
count everyone's records (the bus's total activity, which /integrity hides on purpose), and the
gaps between its own decisions of one event would count the other parties' refusals of it. A DPO
gets instead the number encrypted under a key of its agency's own: one AES block, a permutation,
so each id maps back to its number for that agency alone, and ids say nothing of order or gaps.
The key is derived from the pseudonym key, so ids stay the same across restarts.
"""

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bus.record.pseudonyms import Pseudonymizer
from bus.util.encoding import b64url_decode, b64url_encode

DPO_ID_PATTERN = r"^[A-Za-z0-9_-]{22}$"  # 16 bytes, base64url
_ZERO = bytes(8)


class DpoDecisionIds:
    """Turns decision numbers into a DPO's ids and back, under keys derived from `pseudonyms`."""

    def __init__(self, pseudonyms: Pseudonymizer) -> None:
        self._pseudonyms = pseudonyms

    def encode(self, agency: str, seq: int) -> str:
        """The id `agency`'s DPO sees for decision number `seq`."""
        return b64url_encode(self._cipher(agency).encryptor().update(_ZERO + seq.to_bytes(8)))

    def decode(self, agency: str, shown: str) -> int | None:
        """The decision number behind an id handed to `agency`'s DPO; None if it is none."""
        try:
            block = b64url_decode(shown)
        except ValueError:
            return None
        if len(block) != 16 or b64url_encode(block) != shown:  # one spelling per id
            return None
        plain = self._cipher(agency).decryptor().update(block)
        # A forged or another agency's id decrypts to noise: its first half is zero by chance
        # once in 2^64 guesses.
        seq = int.from_bytes(plain[8:])
        return seq if plain[:8] == _ZERO and seq >= 1 else None

    def _cipher(self, agency: str) -> Cipher[modes.ECB]:
        # The audience names no consumer (agency ids have no ':'): a key of its own per agency.
        secret = self._pseudonyms.pseudonym(f"dpo-decision-ids:{agency}", "key")
        key = hashlib.sha256(secret.encode()).digest()
        # One block per id: ECB of a single block is the block cipher itself, a keyed permutation.
        return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305
