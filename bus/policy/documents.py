"""The policy set as data: what each YAML file holds, validated on load.

A policy set is a directory: territories.yaml, agencies.yaml, purposes.yaml, producers.yaml and
grants.yaml (each a mapping with one list under the file's own name). Lawyers and administrators
edit these; the engine only ever sees the compiled snapshot.
"""

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bus.catalog import DataClass

Code = str
Identifier = str


# The bus's own names start with it: its enforcer group and so its transactional ids
# (`bus-enforcer.tx.…`). An agency named `bus-enforcer` would be granted the transactional-id
# prefix `bus-enforcer.` and could fence the enforcer's producers.
RESERVED_PREFIX = "bus-"


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Level(StrEnum):
    """A tier of government, for territories and agencies alike."""

    NATION = "nation"
    STATE = "state"
    DISTRICT = "district"
    MUNICIPALITY = "municipality"


class Territory(_Document):
    """One unit of the territorial hierarchy (German AGS codes in the reference set)."""

    code: Code = Field(pattern=r"^[A-Z0-9]{2,12}$")
    name: str = Field(min_length=1)
    level: Level
    parent: Code | None = None


class Agency(_Document):
    """A public body on the bus: where it is competent (`jurisdiction`, `competences`), the broker
    principal it connects as, and the public keys its events are signed with."""

    id: Identifier = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1)
    level: Level
    jurisdiction: Code
    competences: tuple[str, ...] = Field(min_length=1)
    kafka_principal: str = Field(pattern=r"^User:[A-Za-z0-9._-]+$")
    public_keys: tuple[str, ...] = ()  # PEM texts; the agency's event signing keys

    @field_validator("id")
    @classmethod
    def _not_the_bus(cls, value: str) -> str:
        if value.startswith(RESERVED_PREFIX):  # see bus/control/agency_ids.py
            raise ValueError(f"agency ids may not start with {RESERVED_PREFIX!r} (the bus's own)")
        return value


class Purpose(_Document):
    """What a consumer may process data for: its legal basis, the competence it needs, the data
    classes it may receive and how long they may be kept."""

    code: Identifier = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    description: str = Field(min_length=1)
    legal_basis: str  # a citation; empty is caught by the linter with a clear message
    competence: str = Field(min_length=1)
    data_classes: tuple[DataClass, ...] = Field(min_length=1)
    retention_days: int = Field(ge=1)
    # Only a purpose whose legal basis says so may ever reach people under a disclosure block.
    allows_disclosure_blocked: bool = False


class ProducerAuthority(_Document):
    """`agency` is the authentic source of `event_types` for subjects located in `territory`."""

    agency: Identifier
    event_types: tuple[str, ...] = Field(min_length=1)
    territory: Code


class TerritorialRule(StrEnum):
    """Which of the subject's locations must lie in the consumer's jurisdiction."""

    NEW_ADDRESS = "new_address"
    PREVIOUS_ADDRESS = "previous_address"
    EITHER_ADDRESS = "either_address"
    PLACE_OF_REGISTRATION = "place_of_registration"
    # No location condition: only for consumers whose jurisdiction is the whole nation (linted).
    NATIONWIDE = "nationwide"

    @property
    def locations(self) -> tuple[str, ...]:
        """The Event.locations names this rule looks at (any one inside suffices); none for nationwide."""
        return _RULE_LOCATIONS[self]


_RULE_LOCATIONS: dict[TerritorialRule, tuple[str, ...]] = {
    TerritorialRule.NEW_ADDRESS: ("new_address",),
    TerritorialRule.PREVIOUS_ADDRESS: ("previous_address",),
    TerritorialRule.EITHER_ADDRESS: ("new_address", "previous_address"),
    TerritorialRule.PLACE_OF_REGISTRATION: ("place_of_registration",),
    TerritorialRule.NATIONWIDE: (),
}


class Grant(_Document):
    """A data sharing agreement: consumer × event types × purpose, and the fields it releases."""

    id: Identifier = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    consumer: Identifier
    event_types: tuple[str, ...] = Field(min_length=1)
    purpose: Identifier
    fields: tuple[str, ...] = Field(min_length=1)
    territorial_rule: TerritorialRule
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    include_disclosure_blocked: bool = False
    # Special-category fields are released only with this explicit flag (linted).
    releases_special_category: bool = False
    # Need to know per person (the BRP's afnemersindicatie): an event about a person is released
    # only while the consumer holds an interest marker on them for this purpose (`bus interest`).
    requires_interest: bool = False
    approved_by: str = Field(min_length=1)
    approved_at: datetime


class TerritoriesFile(_Document):
    """territories.yaml."""

    territories: tuple[Territory, ...]


class AgenciesFile(_Document):
    """agencies.yaml."""

    agencies: tuple[Agency, ...]


class PurposesFile(_Document):
    """purposes.yaml."""

    purposes: tuple[Purpose, ...]


class ProducersFile(_Document):
    """producers.yaml."""

    producers: tuple[ProducerAuthority, ...]


class GrantsFile(_Document):
    """grants.yaml."""

    grants: tuple[Grant, ...]


FILES: dict[str, type[_Document]] = {
    "territories.yaml": TerritoriesFile,
    "agencies.yaml": AgenciesFile,
    "purposes.yaml": PurposesFile,
    "producers.yaml": ProducersFile,
    "grants.yaml": GrantsFile,
}
