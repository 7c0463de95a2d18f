"""Evolution rules: a new version may only add optional fields, unless it declares an upcaster.

Consumers that still read an older version must be able to read the newer one, and stored events
of the older version must still validate; anything else needs an explicit conversion (`upcast`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from bus.catalog.event import Event
from bus.catalog.fields import data_class_of, describe_constraints, describe_type
from bus.catalog.registry import Catalog


@dataclass(frozen=True)
class Incompatibility:
    """One rule a version breaks; `problem` is a full sentence for the person who changed it."""

    event_type: str
    from_version: int
    to_version: int
    problem: str


def check_catalog(catalog: Catalog) -> list[Incompatibility]:
    """Every broken evolution rule in the catalogue (empty if it is consistent)."""
    problems: list[Incompatibility] = []
    for event_type in catalog.event_types():
        versions = catalog.versions(event_type)
        first = versions[0].event_version
        if first != 1:
            problem = f"versions start at {first}; the first version must be 1"
            problems.append(Incompatibility(event_type, 0, first, problem))
        for old, new in pairwise(versions):
            problems.extend(
                Incompatibility(event_type, old.event_version, new.event_version, problem)
                for problem in _pair_problems(old, new)
            )
    return problems


def _pair_problems(old: type[Event], new: type[Event]) -> list[str]:
    problems: list[str] = []
    if new.event_version != old.event_version + 1:
        problems.append(f"versions jump from {old.event_version} to {new.event_version}")
    if new.upcast is not None:
        return problems  # the upcaster converts explicitly, so any field change is allowed
    for name, before in old.model_fields.items():
        after = new.model_fields.get(name)
        if after is None:
            problems.append(f"field {name!r} was removed")
            continue
        if before.annotation != after.annotation:
            problems.append(
                f"field {name!r} changed type from {describe_type(before.annotation)} "
                f"to {describe_type(after.annotation)}"
            )
        if data_class_of(before) != data_class_of(after):
            problems.append(
                f"field {name!r} changed data class from {data_class_of(before)} "
                f"to {data_class_of(after)}"
            )
        # A tighter pattern or length would reject stored events of the old version.
        if describe_constraints(before) != describe_constraints(after):
            problems.append(
                f"field {name!r} changed its constraints from [{describe_constraints(before)}] "
                f"to [{describe_constraints(after)}]"
            )
    for name, field in new.model_fields.items():
        if name not in old.model_fields and field.is_required():
            problems.append(
                f"new field {name!r} is required; make it optional with a default "
                "or declare an upcaster"
            )
    return problems


def format_report(problems: Sequence[Incompatibility]) -> str:
    """One line per problem, `TYPE vA -> vB: problem`, under a line that counts them."""
    count = len(problems)
    lines = [f"catalog check failed: {count} incompatible change{'' if count == 1 else 's'}"]
    lines.extend(
        f"  {item.event_type} v{item.from_version} -> v{item.to_version}: {item.problem}"
        for item in problems
    )
    return "\n".join(lines)
