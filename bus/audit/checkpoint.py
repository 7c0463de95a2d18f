"""Signed checkpoints: the audit key's signature over (position, chain hash, time).

A checkpoint pins the chain: rewriting records before it, even with every later hash recomputed,
no longer matches the signed hash, and only the holder of the audit key can sign a new one.
"""

from dataclasses import dataclass

import rfc8785
from nacl.exceptions import BadSignatureError

from bus.keys import AgencySigningKey
from bus.keys.keystore import AgencyPublicKey


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    chain_hash: str  # hex
    signed_at: str  # RFC 3339
    key_id: str
    signature: bytes

    def payload(self) -> bytes:
        return signed_payload(self.seq, self.chain_hash, self.signed_at, self.key_id)


def signed_payload(seq: int, chain_hash: str, signed_at: str, key_id: str) -> bytes:
    document: dict[str, int | str] = {
        "seq": seq,
        "chain_hash": chain_hash,
        "signed_at": signed_at,
        "key_id": key_id,
    }
    return rfc8785.dumps(document)


def sign_checkpoint(
    key: AgencySigningKey, seq: int, chain_hash: bytes, signed_at: str
) -> Checkpoint:
    payload = signed_payload(seq, chain_hash.hex(), signed_at, key.kid)
    return Checkpoint(seq, chain_hash.hex(), signed_at, key.kid, key.sign(payload))


def signature_valid(public: AgencyPublicKey, checkpoint: Checkpoint) -> bool:
    if checkpoint.key_id != public.kid:
        return False
    try:
        public.verify_key.verify(checkpoint.payload(), checkpoint.signature)
    except BadSignatureError:
        return False
    return True
