"""The demo's script: who moves where, who dies, who is protected, and what each back office must
and must not receive under the reference policy. Person ids carry a per-run prefix, so a demo
can run again on the same broker and still be judged on its own events only."""

from dataclasses import dataclass, field
from datetime import date

from bus.catalog import Event
from bus.catalog.population import Address, AddressChanged, PersonDied

MUNICH, REGENSBURG, STUTTGART = "muni-09162000", "muni-09362000", "muni-08111000"
REGISTERS = (MUNICH, REGENSBURG, STUTTGART)
TAX, BENEFITS, VEHICLES, ELECTORAL = "tax-by", "benefits-de", "kba-de", "elect-09162000"
OUT_OF_JURISDICTION, DISCLOSURE_BLOCKED = "OUT_OF_JURISDICTION", "DISCLOSURE_BLOCKED"
NO_INTEREST = "NO_INTEREST"
# The benefits agency's grants require interest: it registers the people it has a case about.
BENEFITS_PURPOSE = "benefits-entitlement"

MARIENPLATZ = Address(
    street="Marienplatz",
    house_number="8",
    postal_code="80331",
    municipality_code="09162000",
    country="DE",
)
LEOPOLDSTRASSE = Address(
    street="Leopoldstraße",
    house_number="21",
    postal_code="80802",
    municipality_code="09162000",
    country="DE",
)
REGENSBURG_DOM = Address(
    street="Domplatz",
    house_number="5",
    postal_code="93047",
    municipality_code="09362000",
    country="DE",
)
STUTTGART_SCHLOSS = Address(
    street="Schlossplatz",
    house_number="1",
    postal_code="70173",
    municipality_code="08111000",
    country="DE",
)
VIENNA = Address(street="Stephansplatz", house_number="1", postal_code="1010", country="AT")


@dataclass(frozen=True)
class Step:
    """One record of a register export, and what the policy must make of it."""

    title: str
    register: str  # the producing register (an agency id)
    event: Event
    receivers: frozenset[str]  # back offices that must get it
    denied: dict[str, str] = field(default_factory=dict)  # back office -> the deny reason


@dataclass(frozen=True)
class Scenario:
    """The steps of one run (`run`: the person ids' prefix) and the subscription to be refused."""

    run: str
    steps: tuple[Step, ...]
    # The people the benefits agency registers an interest in before the registers publish.
    benefits_cases: tuple[str, ...] = ()
    # A back office asks for a purpose it has no grant for: refused and audited.
    refused_subscription: tuple[str, str, str] = (
        VEHICLES,
        "population.AddressChanged",
        "electoral-register",
    )

    @property
    def decision_count(self) -> int:
        """Decisions the back offices' subscriptions lead to."""
        return sum(len(s.receivers) + len(s.denied) for s in self.steps)


def _move(person: str, old: Address, new: Address, *, blocked: bool = False) -> AddressChanged:
    return AddressChanged(
        subject_id=person,
        previous_address=old,
        new_address=new,
        effective_date=date(2026, 11, 2),
        moved_abroad=new.country != "DE",
        disclosure_block=blocked,
    )


def scenario(run: str) -> Scenario:
    """The demo's script, with person ids prefixed by `run`."""

    def p(name: str) -> str:
        return f"{run}-{name}"

    everyone = frozenset({TAX, BENEFITS, VEHICLES, ELECTORAL})
    steps = (
        Step(
            "Anna moves within Munich",
            MUNICH,
            _move(p("ANNA"), MARIENPLATZ, LEOPOLDSTRASSE),
            everyone,
        ),
        Step(
            "Ben moves from Munich to Regensburg",
            REGENSBURG,
            _move(p("BEN"), MARIENPLATZ, REGENSBURG_DOM),
            frozenset({TAX, BENEFITS, VEHICLES}),
            {ELECTORAL: OUT_OF_JURISDICTION},
        ),
        Step(
            "Clara (no benefits case) moves from Munich to Stuttgart (another state)",
            STUTTGART,
            _move(p("CLARA"), MARIENPLATZ, STUTTGART_SCHLOSS),
            frozenset({VEHICLES}),
            {TAX: OUT_OF_JURISDICTION, ELECTORAL: OUT_OF_JURISDICTION, BENEFITS: NO_INTEREST},
        ),
        Step(
            "David moves from Munich abroad, to Vienna",
            MUNICH,
            _move(p("DAVID"), MARIENPLATZ, VIENNA),
            frozenset({BENEFITS, VEHICLES}),
            {TAX: OUT_OF_JURISDICTION, ELECTORAL: OUT_OF_JURISDICTION},
        ),
        Step(
            "Eva, under a disclosure block, moves within Munich",
            MUNICH,
            _move(p("EVA"), LEOPOLDSTRASSE, MARIENPLATZ, blocked=True),
            frozenset(),
            dict.fromkeys(everyone, DISCLOSURE_BLOCKED),
        ),
        Step(
            "Anna dies in Munich",
            MUNICH,
            PersonDied(
                subject_id=p("ANNA"),
                date_of_death=date(2026, 11, 20),
                registration_municipality_code="09162000",
                disclosure_block=False,
            ),
            frozenset({TAX, BENEFITS, ELECTORAL}),
        ),
    )
    return Scenario(run, steps, benefits_cases=(p("ANNA"), p("BEN"), p("DAVID"), p("EVA")))
