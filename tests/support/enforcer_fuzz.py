"""Structure-aware fuzzing of the enforcer's pipeline: validly signed (real Ed25519) tokens whose
claims, JWT header, disclosures and nested `_sd` lists take arbitrary JSON shapes, on records with
arbitrary headers (null, duplicated, not UTF-8, huge), times and topics.

Used by tests/unit/test_enforcer_fuzz.py (CI) and benchmarks/fuzz_enforcer.py (on demand).
"""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from bus.catalog import Event
from bus.catalog.population import Address, AddressChanged, PersonDied, PersonDiedV1
from bus.catalog.vehicles import VehicleOwnershipChanged
from bus.enforcer.pipeline import INTERNAL_ERROR, EnforcerState, InRecord, Outcome
from bus.enforcer.quarantine_headers import sender_headers
from bus.kafka.key_partition import key_partition
from bus.kafka.topics import AUDIT_TOPIC, DELIVERY_PREFIX, QUARANTINE_TOPIC, ingress_topic
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.policy.documents import ProducerAuthority, TerritorialRule
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from bus.record.pseudonyms import Pseudonymizer
from bus.util.encoding import b64url_decode, b64url_encode, json_bytes, json_from_b64url, sd_digest
from tests.support.forged_tokens import Forgery, disclosure, honest
from tests.support.policy_sets import agency, grant, policy_set, purpose

NOW = datetime(2026, 6, 1, tzinfo=UTC)
KEY = AgencySigningKey.generate("muni-rgb")  # a real key the bus knows: the hostile agency's own
TYPES = ("population.AddressChanged", "population.PersonDied", "vehicles.VehicleOwnershipChanged")
_REGENSBURG = Address(street="Dom", house_number="1", municipality_code="09362000", country="DE")
_MUNICH = Address(
    street="Marienplatz", house_number="8", municipality_code="09162000", country="DE"
)
_DIED = {
    "subject_id": "P-4711-0815",
    "date_of_death": date(2026, 5, 2),
    "registration_municipality_code": "09362000",
}
# Valid events, each of which the state below delivers: the fuzzer bends them from there.
BASE_EVENTS: tuple[Event, ...] = (
    AddressChanged(
        subject_id="P-4711-0815",
        previous_address=_MUNICH,
        new_address=_REGENSBURG,
        effective_date=date(2026, 5, 1),
        moved_abroad=False,
        disclosure_block=False,
    ),
    PersonDied(**_DIED, disclosure_block=False),
    PersonDiedV1(**_DIED),
    VehicleOwnershipChanged(
        subject_id="P-4711-0815",
        plate_number="R-AB 1",
        vehicle_id="WVWZZZ1JZXW000001",
        vehicle_class="M1",
        effective_date=date(2026, 5, 1),
        disclosure_block=False,
    ),
)


def fuzz_state() -> EnforcerState:
    grants = (
        grant(
            "g-move",
            "benefits",
            "benefits",
            territorial_rule=TerritorialRule.EITHER_ADDRESS,
            fields=("subject_id", "new_address", "previous_address", "effective_date"),
        ),
        grant(
            "g-death",
            "benefits",
            "benefits",
            event_types=(TYPES[1],),
            fields=("subject_id", "date_of_death"),
            territorial_rule=TerritorialRule.PLACE_OF_REGISTRATION,
        ),
        grant(
            "g-vehicle",
            "benefits",
            "benefits",
            event_types=(TYPES[2],),
            fields=("plate_number", "effective_date"),
            territorial_rule=TerritorialRule.NATIONWIDE,
        ),
        grant(
            "g-police",
            "police",
            "security",
            include_disclosure_blocked=True,
            territorial_rule=TerritorialRule.EITHER_ADDRESS,
        ),
    )
    snapshot = compile_snapshot(
        policy_set(
            agencies=(
                agency("muni-rgb", "09362000", "population-register"),
                agency("benefits", "DE", "social-benefits"),
                agency("police", "09", "policing"),
            ),
            purposes=(
                purpose("benefits", "social-benefits"),
                purpose("security", "policing", blocked=True),
            ),
            grants=grants,
            producers=(ProducerAuthority(agency="muni-rgb", event_types=TYPES, territory="DE"),),
        )
    )
    subscriptions: dict[str, tuple[Subscription, ...]] = {
        t: (Subscription("benefits", t, "benefits"),) for t in TYPES
    }
    subscriptions[TYPES[0]] += (Subscription("police", TYPES[0], "security"),)
    return EnforcerState(
        snapshot=snapshot,
        keys=KeyStore([public_key_from_pem(KEY.agency_id, KEY.public_pem())]),
        subscriptions=subscriptions,
        pseudonyms=Pseudonymizer(b"f" * 32),
    )


# --- JSON of any shape, with the names the verifier treats specially mixed in ----------------

_NAMES = st.sampled_from(
    [
        "_sd",
        "...",
        "_sd_alg",
        "iss",
        "iat",
        "ce_id",
        "ce_type",
        "ce_time",
        "typ",
        "alg",
        "kid",
        "subject_id",
        "new_address",
        "street",
        "municipality_code",
        "disclosure_block",
        "leak",
    ]
) | st.text(max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63)
    # Beyond a float's range (about 1.8e308) too: JSON integers have no bound.
    | st.integers(min_value=2**1023, max_value=10**400)
    | st.integers(-(10**400), -(2**1023))
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_NAMES, inner, max_size=4),
    max_leaves=12,
)
_ZONES: st.SearchStrategy[Any] = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=23))]
)
TIMES = (
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=_ZONES
    ).map(lambda moment: moment.isoformat())
    | st.sampled_from(
        [
            "2026-06-01",
            "2026-06-01T00:00:00",
            "2026-06-01T00:00:00Z",
            "2026-06-01T00:00:00ZZ",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "",
            "now",
        ]
    )
    | st.text(max_size=30)
)
EVENT_IDS = (
    st.uuids().map(str)
    | st.uuids().map(lambda u: str(u).upper())
    | st.uuids().map(lambda u: u.hex)
    | st.uuids().map(lambda u: f"urn:uuid:{u}")
    | st.text(max_size=40)
)

_ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=20)
Mutation = Callable[[st.DrawFn, Forgery], None]


def _claim(draw: st.DrawFn, forgery: Forgery) -> None:
    name = draw(_NAMES | st.sampled_from(sorted(forgery.claims)))
    forgery.claims[name] = draw(JSON | TIMES | EVENT_IDS)


def _drop_claim(draw: st.DrawFn, forgery: Forgery) -> None:
    forgery.claims.pop(draw(st.sampled_from(sorted(forgery.claims))), None)


def _time(draw: st.DrawFn, forgery: Forgery) -> None:
    forgery.claims["ce_time"] = draw(TIMES)


def _issued_at(draw: st.DrawFn, forgery: Forgery) -> None:
    forgery.claims["iat"] = draw(_SCALARS)


def _event_id(draw: st.DrawFn, forgery: Forgery) -> None:
    forgery.claims["ce_id"] = draw(EVENT_IDS)


def _header_member(draw: st.DrawFn, forgery: Forgery) -> None:
    forgery.header[draw(_NAMES)] = draw(JSON)


def _member(draw: st.DrawFn, members: dict[str, Any]) -> str:
    """A raw `"name":value` member, often one of `members` again (with its value: accepted if
    repeats went unnoticed; or another: the parsers' views differ)."""
    again: bool = draw(st.booleans())
    if members and again:
        name = draw(st.sampled_from(sorted(members)))
        value = members[name] if draw(st.booleans()) else draw(JSON)
    else:
        name, value = draw(_NAMES), draw(JSON)
    return f"{json.dumps(name)}:{json_bytes(value).decode()}"


def _repeated_member(draw: st.DrawFn, forgery: Forgery) -> None:
    """A member named twice in the JWT header, the payload, or an object a disclosure discloses."""
    where = draw(st.sampled_from(["header", "claims", "disclosure"]))
    if where == "header":
        forgery.header_members += "," + _member(draw, forgery.header)
    elif where == "claims":
        forgery.claim_members += "," + _member(draw, forgery.claims)
    elif forgery.disclosures:
        index = draw(st.integers(0, len(forgery.disclosures) - 1))
        try:
            salt, name, value = json_from_b64url(forgery.disclosures[index], "disclosure")
        except (ValueError, TypeError):  # a raw disclosure added before
            return
        members = value if isinstance(value, dict) else {}
        inner = json_bytes(members).decode()[:-1]
        inner += ("," if members else "") + _member(draw, members) + "}"
        raw = f"[{json.dumps(salt)},{json.dumps(name)},{inner}]"
        forgery.disclosures[index] = b64url_encode(raw.encode())
        forgery.claims["_sd"] = sorted(sd_digest(d) for d in forgery.disclosures)


def _signed(forgery: Forgery) -> list[Any]:
    signed = forgery.claims.get("_sd")
    return list(signed) if isinstance(signed, list) else []


def _sd(draw: st.DrawFn, forgery: Forgery) -> None:
    signed = _signed(forgery)
    forgery.claims["_sd"] = draw(JSON | st.just([*signed, draw(JSON)]) | st.just(signed + signed))


def _field(draw: st.DrawFn, forgery: Forgery) -> None:
    """One disclosure re-signed with another value: any JSON, or an object with nested `_sd`
    digests of other disclosures (new ones, or ones also signed at the top level)."""
    index = draw(st.integers(0, len(forgery.disclosures) - 1)) if forgery.disclosures else None
    name = _name(forgery.disclosures[index]) if index is not None else None
    name = draw(_NAMES) if name is None else name
    inner = draw(st.lists(st.builds(disclosure, _NAMES, JSON), max_size=3))
    reused: list[str] = []
    if forgery.disclosures:
        reused = draw(st.lists(st.sampled_from(forgery.disclosures), max_size=2))
    value = draw(JSON)
    if draw(st.booleans()):
        value = value if isinstance(value, dict) else {}
        value["_sd"] = [sd_digest(d) for d in [*inner, *reused]] + draw(st.lists(JSON, max_size=2))
    elif draw(st.booleans()):
        value = [{"...": sd_digest(d)} for d in inner] + [value]
    new = disclosure(name, value)
    if index is not None:
        forgery.disclosures[index] = new
    else:
        forgery.disclosures.append(new)
    forgery.disclosures += inner
    signed = {sd_digest(d) for d in forgery.disclosures} - {sd_digest(d) for d in inner}
    if draw(st.booleans()):  # a nested disclosure also signed at the top level: used twice
        signed |= {sd_digest(d) for d in inner}
    forgery.claims["_sd"] = sorted(signed)


def _disclosures(draw: st.DrawFn, forgery: Forgery) -> None:
    """Added, duplicated, dropped or raw (not base64url JSON) disclosures, signed or not."""
    extra = draw(
        st.lists(
            st.builds(disclosure, _NAMES, JSON)
            | _ASCII
            | st.sampled_from(forgery.disclosures or ["x"]),
            max_size=3,
        )
    )
    if draw(st.booleans()) and forgery.disclosures:
        forgery.disclosures.pop(draw(st.integers(0, len(forgery.disclosures) - 1)))
    forgery.disclosures += extra
    if draw(st.booleans()):
        forgery.claims["_sd"] = [*_signed(forgery), *map(sd_digest, extra)]


# The deep ones (disclosures, nested `_sd`) listed more often: most records should get past the
# envelope's first checks, or the fuzzer would only ever test those.
MUTATIONS: tuple[Mutation, ...] = (
    _claim,
    _drop_claim,
    _time,
    _issued_at,
    _event_id,
    _header_member,
    _repeated_member,
    _sd,
    _field,
    _field,
    _field,
    _disclosures,
    _disclosures,
)
_HEADER_NAMES = st.sampled_from(
    [
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_subject",
        "ce_time",
        "ce_specversion",
        "ce_dataschema",
        "content-type",
        "ce_leak",
        "traceparent",
    ]
) | st.text(max_size=10)
_HEADER_VALUES = (
    st.none()
    | st.binary(max_size=20)
    | st.text(max_size=20).map(str.encode)
    | st.sampled_from([b"\xff\xfe", b"x" * 1_000_000, b"P-4711-0815"])
)


@st.composite
def hostile_records(draw: st.DrawFn) -> InRecord:
    """A record a hostile agency with a valid key could send: mostly validly signed tokens with a
    few parts bent, sometimes not a token at all."""
    base = draw(st.sampled_from(BASE_EVENTS))
    forgery = honest(base, KEY, event_id=str(draw(st.uuids())), time=NOW)
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
        mutation(draw, forgery)
    # Rare cases are drawn as one value of several (hypothesis draws 0 and bounds more often).
    headers = forgery.ingress_headers() if draw(st.integers(0, 9)) != 5 else []
    for _ in range(draw(st.integers(1, 3)) if draw(st.integers(0, 4)) == 3 else 0):
        if draw(st.booleans()) and headers:
            headers.append(draw(st.sampled_from(headers)))  # duplicated
        else:
            headers.append((draw(_HEADER_NAMES), draw(_HEADER_VALUES)))
    token = forgery.token()
    value: bytes | None = token
    if draw(st.integers(0, 9)) == 5:  # sometimes not a (whole) token at all
        value = draw(
            st.none()
            | st.binary(max_size=40)
            | st.just(token + b"junk~")
            | st.integers(0, len(token)).map(lambda cut: token[:cut])
        )
    topic = ingress_topic(str(forgery.claims.get("ce_type")))
    if draw(st.integers(0, 9)) == 5:
        topic = draw(st.sampled_from([*map(ingress_topic, TYPES), "bus.ingress.x"]))
    key = forgery.subject_key() if draw(st.integers(0, 9)) != 5 else draw(st.none() | st.binary())
    # On its key's partition (as Kafka's default partitioner puts it), or sometimes on another.
    partitions = draw(st.integers(1, 12))
    partition = key_partition(key, partitions) if key is not None else 0
    if draw(st.integers(0, 9)) == 5:
        partition = draw(st.integers(0, partitions - 1))
    offset = draw(st.integers(0, 2**62))
    return InRecord(topic, partition, offset, key, value, headers, partitions)


def check_outcome(record: InRecord, outcome: Outcome) -> None:
    """Either decisions (one audit record each, one delivery per permit) or exactly one
    quarantine record (the original bytes) plus one audit record; never an unforeseen failure."""
    if outcome.quarantine_reason is not None:
        assert outcome.quarantine_reason != INTERNAL_ERROR, outcome.quarantine_detail
        assert outcome.decisions == []
        assert [r.topic for r in outcome.records] == [QUARANTINE_TOPIC, AUDIT_TOPIC]
        assert outcome.records[0].value == (record.value or b"")
        copy = outcome.records[0].headers
        assert sender_headers(copy) == list(record.headers)  # every header, as it came
        own = [name for name, _ in copy if name.startswith("bus_")]
        assert own == ["bus_quarantine_reason", "bus_quarantine_detail", "bus_input"]
        audit = json.loads(outcome.records[1].value)
        assert (audit["outcome"], audit["reasons"]) == ("QUARANTINED", [outcome.quarantine_reason])
        return
    assert outcome.decisions
    assert record.value is not None
    _assert_no_repeated_members(record.value)
    audits = [json.loads(r.value) for r in outcome.records if r.topic == AUDIT_TOPIC]
    deliveries = [r for r in outcome.records if r.topic.startswith(DELIVERY_PREFIX)]
    assert len(audits) == len(outcome.decisions)
    assert len(deliveries) == sum(d.permitted for d in outcome.decisions)
    assert len(outcome.records) == len(audits) + len(deliveries)
    for delivery in deliveries:  # only signed attributes travel: every header is set and UTF-8
        assert all(isinstance(v, bytes) and v.decode() for _, v in delivery.headers)


def _name(encoded: str) -> str | None:
    try:
        return str(json_from_b64url(encoded, "disclosure")[1])
    except (ValueError, TypeError, IndexError, KeyError):  # a raw disclosure added before
        return None


def _assert_no_repeated_members(token: bytes) -> None:
    """An accepted token names no JSON member twice, anywhere (header, payload, disclosures)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        assert len({name for name, _ in pairs}) == len(pairs), f"repeated member in {pairs}"
        return dict(pairs)

    jwt, *disclosures = token.decode("ascii").split("~")[:-1]
    header, payload, _ = jwt.split(".")
    for part in (header, payload, *disclosures):
        json.loads(b64url_decode(part), object_pairs_hook=unique)
