"""Cross-check a loaded policy set: what the schema cannot see, said in words a lawyer can act on.

The loader checks each document on its own; the linter checks them against each other and
against the event catalogue. Errors block `bus policy check`; warnings are worth a look.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from typing import Literal

from bus.catalog import CATALOG, Catalog, DataClass
from bus.policy.approval_lint import approval_checks
from bus.policy.documents import Grant, TerritorialRule
from bus.policy.loader import APPROVALS_FILE, PolicySet

Severity = Literal["error", "warning"]
_Report = Callable[[Severity, str, str], None]  # severity, key under the grant, message


@dataclass(frozen=True)
class Finding:
    """One problem: how serious, where (file and key) and what to do, in a sentence."""

    severity: Severity
    file: str
    key: str  # e.g. grants[3].fields: the list index in the file, then the key
    message: str


def lint(
    policy_set: PolicySet, catalog: Catalog = CATALOG, now: datetime | None = None
) -> list[Finding]:
    """Every problem in the policy set, in file order; empty if it is consistent."""
    return _Linter(policy_set, catalog, now or datetime.now(UTC)).run()


def format_findings(findings: Iterable[Finding]) -> str:
    """One `file: key: severity: message` line per finding."""
    return "\n".join(f"{f.file}: {f.key}: {f.severity}: {f.message}" for f in findings)


class _Linter:
    def __init__(self, policy_set: PolicySet, catalog: Catalog, now: datetime) -> None:
        self.set = policy_set
        self.catalog = catalog
        self.now = now
        self.findings: list[Finding] = []
        self.territories = {t.code: t for t in policy_set.territories.territories}
        self.agencies = {a.id: a for a in policy_set.agencies.agencies}
        self.purposes = {p.code: p for p in policy_set.purposes.purposes}
        self.event_types = set(catalog.event_types())

    def report(self, severity: Severity, file: str, key: str, message: str) -> None:
        self.findings.append(Finding(severity, str(self.set.directory / file), key, message))

    def run(self) -> list[Finding]:
        self.territory_checks()
        self.agency_checks()
        self.purpose_checks()
        self.producer_checks()
        for index, grant in enumerate(self.set.grants.grants):
            self.grant_checks(index, grant)
        grants = self.set.grants.grants
        self.duplicates("grants.yaml", "grants", "id", [g.id for g in grants])
        self.overlap_checks()
        approval_checks(
            self.set,
            set(self.agencies),
            lambda key, message: self.report("warning", APPROVALS_FILE, key, message),
        )
        return self.findings

    def duplicates(self, file: str, section: str, attribute: str, values: Sequence[str]) -> None:
        for index, value in enumerate(values):
            if (first := values.index(value)) != index:
                self.report(
                    "error",
                    file,
                    f"{section}[{index}].{attribute}",
                    f"{attribute} {value!r} is already used by {section}[{first}]",
                )

    def territory_checks(self) -> None:
        territories = self.set.territories.territories
        self.duplicates("territories.yaml", "territories", "code", [t.code for t in territories])
        for index, territory in enumerate(territories):
            key = f"territories[{index}].parent"
            if territory.parent is None:
                continue
            if territory.parent not in self.territories:
                message = f"territory {territory.code}: unknown parent {territory.parent}"
                self.report("error", "territories.yaml", key, message)
                continue
            chain = [territory.code]
            while (parent := self.territories[chain[-1]].parent) in self.territories:
                if parent == territory.code:  # report only the members of a cycle
                    cycle = " -> ".join([*chain, parent])
                    message = f"territory {territory.code}: its parents form a cycle ({cycle})"
                    self.report("error", "territories.yaml", key, message)
                    break
                if parent in chain:
                    break  # a cycle further up, reported at its own members
                chain.append(parent)

    def agency_checks(self) -> None:
        agencies = self.set.agencies.agencies
        self.duplicates("agencies.yaml", "agencies", "id", [a.id for a in agencies])
        # One broker identity per agency, or ACLs could not tell two agencies apart.
        principals = [a.kafka_principal for a in agencies]
        self.duplicates("agencies.yaml", "agencies", "kafka_principal", principals)
        for index, agency in enumerate(agencies):
            if agency.jurisdiction not in self.territories:
                self.report(
                    "error",
                    "agencies.yaml",
                    f"agencies[{index}].jurisdiction",
                    f"agency {agency.id}: unknown territory {agency.jurisdiction}",
                )

    def purpose_checks(self) -> None:
        purposes = self.set.purposes.purposes
        self.duplicates("purposes.yaml", "purposes", "code", [p.code for p in purposes])
        for index, purpose in enumerate(purposes):
            if not purpose.legal_basis.strip():
                self.report(
                    "error",
                    "purposes.yaml",
                    f"purposes[{index}].legal_basis",
                    f"purpose {purpose.code}: the legal basis is empty; cite the provision "
                    "that allows this processing (e.g. '§ 36 Abs. 1 BMG')",
                )

    def producer_checks(self) -> None:
        for index, authority in enumerate(self.set.producers.producers):
            where = f"producers[{index}]"
            if authority.agency not in self.agencies:
                message = f"unknown agency {authority.agency}"
                self.report("error", "producers.yaml", f"{where}.agency", message)
            if authority.territory not in self.territories:
                message = f"{authority.agency}: unknown territory {authority.territory}"
                self.report("error", "producers.yaml", f"{where}.territory", message)
            for event_type in authority.event_types:
                if event_type not in self.event_types:
                    self.report(
                        "error",
                        "producers.yaml",
                        f"{where}.event_types",
                        f"{authority.agency}: {self.unknown_type(event_type)}",
                    )

    def unknown_type(self, event_type: str) -> str:
        return f"unknown event type {event_type}; known: {', '.join(sorted(self.event_types))}"

    def grant_checks(self, index: int, grant: Grant) -> None:
        where = f"grants[{index}]"

        def report(severity: Severity, key: str, message: str) -> None:
            self.report(severity, "grants.yaml", f"{where}.{key}", f"grant {grant.id}: {message}")

        agency = self.agencies.get(grant.consumer)
        purpose = self.purposes.get(grant.purpose)
        if agency is None:
            report("error", "consumer", f"unknown consumer agency {grant.consumer}")
        if purpose is None:
            report("error", "purpose", f"unknown purpose {grant.purpose}")
        if agency and purpose and purpose.competence not in agency.competences:
            report(
                "warning",
                "purpose",
                f"{grant.consumer} is not competent for {purpose.competence} (purpose "
                f"{purpose.code}); the engine will deny every event",
            )
        if grant.valid_until is not None and grant.valid_until <= grant.valid_from:
            report("error", "valid_until", "valid_until is not after valid_from: never valid")
        elif grant.valid_until is not None and grant.valid_until <= self.now:
            report("warning", "valid_until", f"expired on {grant.valid_until.isoformat()}")
        if grant.include_disclosure_blocked and purpose and not purpose.allows_disclosure_blocked:
            report(
                "error",
                "include_disclosure_blocked",
                f"purpose {purpose.code} does not allow persons under a disclosure block",
            )
        if grant.territorial_rule is TerritorialRule.NATIONWIDE and agency:
            territory = self.territories.get(agency.jurisdiction)
            if territory is not None and territory.parent is not None:
                report(
                    "error",
                    "territorial_rule",
                    f"nationwide needs a consumer whose jurisdiction is the whole country; "
                    f"{agency.id}'s is {agency.jurisdiction}",
                )
        allowed = set(purpose.data_classes) if purpose else set(DataClass)
        for event_type in grant.event_types:
            if event_type not in self.event_types:
                report("error", "event_types", self.unknown_type(event_type))
                continue
            self.grant_event_checks(grant, event_type, allowed, report)

    def grant_event_checks(
        self, grant: Grant, event_type: str, allowed: set[DataClass], report: _Report
    ) -> None:
        event = self.catalog.latest(event_type)
        classes = event.data_classes()
        unknown = [f for f in grant.fields if f not in classes]
        if unknown:
            report(
                "error",
                "fields",
                f"{event_type} has no field {', '.join(unknown)}; "
                f"its fields: {', '.join(event.field_names())}",
            )
        special = [f for f in grant.fields if classes.get(f) is DataClass.SPECIAL_CATEGORY]
        if special and not grant.releases_special_category:
            report(
                "error",
                "fields",
                f"releases special-category field {', '.join(special)} of {event_type} "
                "without releases_special_category: true",
            )
        barred = [f for f in grant.fields if f in classes and classes[f] not in allowed]
        if barred:
            names = ", ".join(f"{f} ({classes[f].value})" for f in barred)
            report(
                "error",
                "fields",
                f"purpose {grant.purpose} does not allow the data class of {names} in {event_type}",
            )
        if event.subject_is_person and event.disclosure_block_field is None:
            report(
                "error",
                "event_types",
                f"{event_type} v{event.event_version} is about a person but carries no "
                "disclosure-block field, so a protected person's events could not be withheld; "
                "the catalogue needs a version that carries one",
            )
        missing = [n for n in grant.territorial_rule.locations if n not in event.locations]
        if missing:
            has = ", ".join(event.locations) or "none (use nationwide)"
            report(
                "error",
                "territorial_rule",
                f"rule {grant.territorial_rule.value} needs location {', '.join(missing)}, "
                f"which {event_type} does not have; its locations: {has}",
            )

    def overlap_checks(self) -> None:
        grants = list(enumerate(self.set.grants.grants))
        for (i, a), (j, b) in combinations(grants, 2):
            if a.consumer != b.consumer or a.purpose != b.purpose:
                continue
            shared = sorted(set(a.event_types) & set(b.event_types))
            if shared and _overlap(a, b):
                self.report(
                    "error",
                    "grants.yaml",
                    f"grants[{j}].valid_from",
                    f"grant {b.id} overlaps grant {a.id} (grants[{i}]) in time for "
                    f"{b.consumer} × {', '.join(shared)} × {b.purpose}; "
                    "end one before the other starts",
                )


def _overlap(a: Grant, b: Grant) -> bool:
    # Windows are half-open, [valid_from, valid_until): ending when the next starts is no overlap.
    a_ends_after_b_starts = a.valid_until is None or b.valid_from < a.valid_until
    b_ends_after_a_starts = b.valid_until is None or a.valid_from < b.valid_until
    return a_ends_after_b_starts and b_ends_after_a_starts
