"""SD-JWT (RFC 9901) with Ed25519: issue, present a subset of disclosures, verify.

Generic over claims; the event layer (codec.py) decides which claims are signed in the clear and
which travel as disclosures. We issue flat object-property disclosures `[salt, name, value]`; we
verify nested ones and decoy digests too, as other issuers (the reference implementation) make them.
No key binding: the holder here is the bus, which forwards, not a wallet that proves possession.
"""

import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bus.envelope.errors import (
    BadSignatureError,
    DigestMismatchError,
    DuplicateDisclosureError,
    MalformedTokenError,
    MissingAttributeError,
    UnexpectedClaimError,
    UnknownKeyError,
    UnreferencedDisclosureError,
)
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.signature_check import SIGNATURE_BYTES
from bus.util.encoding import (
    MalformedEncodingError,
    b64url_decode,
    b64url_encode,
    json_bytes,
    json_from_b64url,
    json_loads,
    sd_digest,
)

ALGORITHM = "EdDSA"
SD_ALG = "sha-256"
TOKEN_TYPE = "govbus+sd-jwt"  # noqa: S105 - a media type, not a secret
SALT_BYTES = 16  # 128 bits, the minimum RFC 9901 recommends
# The JWT header members we issue; any other would be an unchecked value riding along.
HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})
MAX_CACHED_HEADERS = 1024
SD_MEMBERS = ("_sd", "_sd_alg")


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One disclosed field: its name, its value (nested disclosures resolved) and its encoding
    as it travels in the token."""

    name: str
    value: Any
    encoded: str
    # Disclosures nested inside this one's value: presented together with it.
    nested: tuple[str, ...] = ()

    def presented(self) -> str:
        """This disclosure and its nested ones as they follow the JWT, each ending in `~`."""
        return "".join(e + "~" for e in (self.encoded, *self.nested))


@dataclass(frozen=True)
class VerifiedSdJwt:
    """A token whose signature and disclosures were checked. `claims` holds the signed clear claims."""

    issuer_jwt: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    disclosures: Mapping[str, Disclosure] = field(repr=False)

    def present(self, names: Collection[str]) -> str:
        """The same token carrying only the disclosures of `names`; no re-signing needed."""
        kept = "".join(d.presented() for n, d in self.disclosures.items() if n in names)
        return f"{self.issuer_jwt}~{kept}"


def issue(claims: Mapping[str, Any], disclosable: Mapping[str, Any], key: AgencySigningKey) -> str:
    """A compact SD-JWT signed by `key`: `claims` in the clear, each member of `disclosable` as
    its own salted disclosure."""
    encoded = [
        b64url_encode(json_bytes([b64url_encode(secrets.token_bytes(SALT_BYTES)), name, value]))
        for name, value in disclosable.items()
    ]
    # Sorted digests: their order must not reveal the order (and so the names) of the fields.
    payload = {**claims, "_sd_alg": SD_ALG, "_sd": sorted(sd_digest(e) for e in encoded)}
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key.kid}
    signing_input = f"{b64url_encode(json_bytes(header))}.{b64url_encode(json_bytes(payload))}"
    signature = b64url_encode(key.sign(signing_input.encode("ascii")))
    return f"{signing_input}.{signature}~" + "".join(e + "~" for e in encoded)


def split(token: str | bytes) -> tuple[str, list[str]]:
    """Issuer-signed JWT and encoded disclosures of a compact SD-JWT without key binding."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedTokenError("token is not ASCII text") from None
    parts = token.split("~")
    if len(parts) < 2:
        raise MalformedTokenError("not an SD-JWT: no '~' separator")
    if parts[-1]:
        raise MalformedTokenError("token ends in a key-binding JWT or lacks the final '~'")
    return parts[0], parts[1:-1]


def present(token: str | bytes, names: Collection[str]) -> str:
    """Keep only the top-level disclosures named in `names`, without verifying. For tokens with
    nested disclosures (we never issue those), present from `verify(...)` to keep them together."""
    issuer_jwt, encoded = split(token)
    kept = "".join(e + "~" for e in encoded if _decode_disclosure(e).name in names)
    return f"{issuer_jwt}~{kept}"


def verify(
    token: str | bytes,
    keys: KeyStore,
    field_names: Callable[[Mapping[str, Any]], Collection[str]],
) -> VerifiedSdJwt:
    """Check signature and every disclosure. `field_names(claims)` names the fields the signed
    claims allow, so that an altered disclosure can be told apart from an added one."""
    issuer_jwt, encoded = split(token)
    header, claims = _verify_issuer_jwt(issuer_jwt, keys)
    signed = claims.get("_sd")
    if claims.get("_sd_alg") != SD_ALG or not isinstance(signed, list):
        raise MissingAttributeError(f"signed part needs _sd_alg={SD_ALG!r} and an _sd digest list")
    _require_digest_list(signed)
    digests = set(signed)
    if len(digests) != len(signed):
        raise DuplicateDisclosureError("the issuer signed the same digest twice")
    by_digest: dict[str, Disclosure] = {}
    for position, item in enumerate(encoded, start=1):
        digest = sd_digest(item)
        if digest in by_digest:
            raise DuplicateDisclosureError(f"disclosure #{position} occurs twice")
        by_digest[digest] = _decode_disclosure(item)
    allowed = field_names(claims)
    used: set[str] = set()
    disclosures: dict[str, Disclosure] = {}
    for digest in signed:
        disclosure = by_digest.get(digest)
        if disclosure is None:
            continue  # withheld, or a decoy
        if digest in used:  # already resolved inside another disclosure's value
            raise DuplicateDisclosureError(f"disclosure {disclosure.name!r} is used twice")
        used.add(digest)
        if disclosure.name in disclosures:
            raise DuplicateDisclosureError(f"field {disclosure.name!r} is disclosed twice")
        if disclosure.name not in allowed:
            raise UnreferencedDisclosureError(
                f"the issuer signed a disclosure named {disclosure.name!r}, which this event type"
                " does not define"
            )
        if isinstance(disclosure.value, dict | list):
            nested: list[str] = []
            value = _resolve(disclosure.value, by_digest, used, nested)
            disclosure = Disclosure(disclosure.name, value, disclosure.encoded, tuple(nested))
        # else: a scalar has nothing to resolve (as _resolve would find): the decoded one stands.
        disclosures[disclosure.name] = disclosure
    if len(used) != len(by_digest):
        _refuse_unused(encoded, by_digest, used, allowed)
    clear = {k: v for k, v in claims.items() if k not in SD_MEMBERS}
    return VerifiedSdJwt(issuer_jwt, header, clear, disclosures)


def _resolve(
    value: Any, by_digest: Mapping[str, Disclosure], used: set[str], nested: list[str]
) -> Any:
    """Replace nested `_sd` digests by their disclosed properties; drop decoys and withheld ones."""
    if isinstance(value, list):
        if any(isinstance(item, dict) and "..." in item for item in value):
            raise MalformedTokenError("array element disclosures are not supported")
        return [_resolve(item, by_digest, used, nested) for item in value]
    if not isinstance(value, dict):
        return value
    resolved = {k: _resolve(v, by_digest, used, nested) for k, v in value.items() if k != "_sd"}
    digests = value.get("_sd", [])
    _require_digest_list(digests)
    for digest in digests:
        inner = by_digest.get(digest)
        if inner is None:
            continue
        if inner.name in ("_sd", "..."):
            raise MalformedTokenError(f"a disclosure may not be named {inner.name!r}")
        if digest in used or inner.name in resolved:
            raise DuplicateDisclosureError(f"nested property {inner.name!r} is disclosed twice")
        used.add(digest)
        nested.append(inner.encoded)
        resolved[inner.name] = _resolve(inner.value, by_digest, used, nested)
    return resolved


def _require_digest_list(digests: object) -> None:
    if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
        raise MalformedTokenError("an _sd member must be a list of digest strings")


def _refuse_unused(
    encoded: list[str],
    by_digest: Mapping[str, Disclosure],
    used: set[str],
    allowed: Collection[str],
) -> None:
    for position, item in enumerate(encoded, start=1):
        digest = sd_digest(item)
        if digest in used:
            continue
        name = by_digest[digest].name
        if name in allowed:
            raise DigestMismatchError(
                f"disclosure #{position} (field {name!r}) matches no digest the issuer signed: its"
                " salt or value was altered, or it belongs to another event"
            )
        raise UnreferencedDisclosureError(
            f"disclosure #{position} (name {name!r}) matches no signed digest and is no field of"
            " this event: it was added"
        )


def _verify_issuer_jwt(issuer_jwt: str, keys: KeyStore) -> tuple[Mapping[str, Any], dict[str, Any]]:
    pieces = issuer_jwt.split(".")
    if len(pieces) != 3:
        raise MalformedTokenError("the issuer-signed JWT must have three '.'-separated parts")
    # An issuer sends the same header on every token: read it once (checks below still run).
    header: Mapping[str, Any] = _valid_headers.get(pieces[0]) or _json_object(
        pieces[0], "JWT header"
    )
    if header.get("alg") != ALGORITHM:
        raise BadSignatureError(f"algorithm {header.get('alg')!r} is not accepted; only EdDSA")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MissingAttributeError("JWT header has no key id (kid)")
    key = keys.get(kid)
    if key is None:
        raise UnknownKeyError(f"key {kid!r} is not among the known agency keys")
    signature = _b64(pieces[2])
    if len(signature) != SIGNATURE_BYTES:
        raise BadSignatureError(
            f"signature is malformed: {len(signature)} bytes, an Ed25519 signature has 64"
        )
    if not key.check_signature(f"{pieces[0]}.{pieces[1]}".encode("ascii"), signature):
        raise BadSignatureError(f"signature does not verify with key {kid!r} of {key.agency_id}")
    unexpected = header.keys() - HEADER_MEMBERS
    if unexpected:
        raise UnexpectedClaimError(f"JWT header members not allowed: {_names(unexpected)}")
    if header.get("typ") != TOKEN_TYPE:
        raise UnexpectedClaimError(f"JWT header typ must be {TOKEN_TYPE!r}")
    if pieces[0] not in _valid_headers:
        if len(_valid_headers) >= MAX_CACHED_HEADERS:  # a flood of distinct kids: start over
            _valid_headers.clear()
        # Read-only: every token with this header shares it, so no caller may change it.
        _valid_headers[pieces[0]] = MappingProxyType(header)
    claims = _json_object(pieces[1], "JWT payload")
    if claims.get("iss") != key.agency_id:
        raise UnknownKeyError(
            f"key {kid!r} belongs to {key.agency_id!r}, but the token claims issuer {claims.get('iss')!r}"
        )
    return header, claims


# Headers (as sent, base64url) that passed every check of their own, read: one per issuer key.
_valid_headers: dict[str, Mapping[str, Any]] = {}


def _names(names: Collection[str]) -> str:
    # Names only, shortened: they come from the sender and end up in logs and quarantine headers.
    return ", ".join(repr(n[:40]) for n in sorted(names)[:5])


def _decode_disclosure(encoded: str) -> Disclosure:
    try:
        raw = b64url_decode(encoded)
        decoded = json_loads(raw, "disclosure")
    except MalformedEncodingError as exc:
        raise MalformedTokenError(f"disclosure {encoded[:16]!r}…: {exc}") from None
    if not (
        isinstance(decoded, list)
        and len(decoded) == 3
        and isinstance(decoded[0], str)
        and isinstance(decoded[1], str)
    ):
        raise MalformedTokenError(f"disclosure {encoded[:16]!r}… is not [salt, name, value]")
    return Disclosure(decoded[1], decoded[2], encoded)


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json_from_b64url(text, what)
    except MalformedEncodingError as exc:
        raise MalformedTokenError(str(exc)) from None
    if not isinstance(value, dict):
        raise MalformedTokenError(f"{what} is not a JSON object")
    return value


def _b64(text: str) -> bytes:
    try:
        return b64url_decode(text)
    except MalformedEncodingError as exc:
        raise MalformedTokenError(str(exc)) from None
