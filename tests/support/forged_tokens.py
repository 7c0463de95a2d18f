"""Validly signed tokens of any shape: what a hostile agency holding its own signing key can send.

`Forgery` starts as exactly what `issue_event` would sign; a test then bends any part (clear
claims, JWT header, disclosures, `_sd` lists, record headers) and signs it for real with Ed25519.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uuid_utils

from bus.catalog import Event
from bus.enforcer.pipeline import InRecord
from bus.envelope.attributes import EventAttributes
from bus.envelope.sdjwt import ALGORITHM, SD_ALG, TOKEN_TYPE
from bus.kafka.topics import ingress_topic
from bus.keys import AgencySigningKey
from bus.util.encoding import b64url_encode, json_bytes, json_from_b64url, sd_digest


def disclosure(name: str, value: Any, salt: str | None = None) -> str:
    """An encoded `[salt, name, value]` disclosure."""
    salt = salt if salt is not None else b64url_encode(secrets.token_bytes(16))
    return b64url_encode(json_bytes([salt, name, value]))


@dataclass
class Forgery:
    key: AgencySigningKey
    claims: dict[str, Any]  # the signed payload, `_sd` and `_sd_alg` included
    disclosures: list[str]  # appended to the token, in this order
    header: dict[str, Any] = field(default_factory=dict)
    # Raw members (`,"name":value`) appended inside the JWT header and payload objects: a member
    # the dicts above hold already then occurs twice.
    header_members: str = ""
    claim_members: str = ""

    def token(self) -> bytes:
        header = _with_members(json_bytes(self.header), self.header_members)
        payload = _with_members(json_bytes(self.claims), self.claim_members)
        signing_input = f"{b64url_encode(header)}.{b64url_encode(payload)}"
        signature = b64url_encode(self.key.sign(signing_input.encode("ascii")))
        return f"{signing_input}.{signature}~{''.join(d + '~' for d in self.disclosures)}".encode()

    def ingress_headers(self) -> list[tuple[str, bytes | None]]:
        """The CloudEvents headers an honest producer would set for these claims."""
        names = {
            "ce_specversion": "ce_specversion",
            "ce_id": "ce_id",
            "ce_source": "iss",
            "ce_type": "ce_type",
            "ce_time": "ce_time",
            "ce_dataschema": "ce_dataschema",
            "content-type": "ce_datacontenttype",
        }
        return [
            (header, str(self.claims[claim]).encode())
            for header, claim in names.items()
            if claim in self.claims
        ]

    def record(
        self,
        topic: str | None = None,
        headers: Sequence[tuple[str, bytes | None]] | None = None,
        offset: int = 0,
    ) -> InRecord:
        if topic is None:
            topic = ingress_topic(str(self.claims.get("ce_type")))
        chosen = self.ingress_headers() if headers is None else list(headers)
        return InRecord(topic, 0, offset, self.subject_key(), self.token(), chosen)

    def subject_key(self) -> bytes:
        """The record key an honest producer sets: the subject, as its disclosure says."""
        for encoded in self.disclosures:
            try:
                _, name, value = json_from_b64url(encoded, "disclosure")
            except (ValueError, TypeError):  # a disclosure a test bent out of shape
                continue
            if name == "subject_id":
                return str(value).encode()
        return b"no-subject"


def _with_members(encoded: bytes, members: str) -> bytes:
    return encoded[:-1] + members.encode() + b"}" if members else encoded


def honest(
    event: Event, key: AgencySigningKey, *, event_id: str | None = None, time: datetime
) -> Forgery:
    """What issue_event signs for `event`: every field its own top-level disclosure."""
    attributes = EventAttributes(
        id=event_id or str(uuid_utils.uuid7()),
        source=key.agency_id,
        type=event.event_type,
        version=event.event_version,
        time=time,
        dataschema=event.dataschema(),
    )
    encoded = [disclosure(n, v) for n, v in event.field_values_json().items()]
    claims: dict[str, Any] = {
        **attributes.claims(),
        "_sd_alg": SD_ALG,
        "_sd": sorted(sd_digest(e) for e in encoded),
    }
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key.kid}
    return Forgery(key, claims, encoded, header)


def with_field(forgery: Forgery, name: str, value: Any, *, nested: Sequence[str] = ()) -> Forgery:
    """`forgery` with field `name` re-disclosed as `value`, signed; `nested` disclosures are added
    to the token (their digests must appear in `value`'s `_sd` to be resolved)."""
    kept = [d for d in forgery.disclosures if _name_of(d) != name]
    new = disclosure(name, value)
    disclosures = [*kept, new, *nested]
    claims = {**forgery.claims, "_sd": sorted(sd_digest(d) for d in [*kept, new])}
    return Forgery(forgery.key, claims, disclosures, dict(forgery.header))


def _name_of(encoded: str) -> str:
    name = json_from_b64url(encoded, "disclosure")[1]
    assert isinstance(name, str)
    return name
