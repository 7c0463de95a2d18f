"""The subscriptions a Strimzi export is generated for, when it is not read from the bus: a file
listing them, or every grant of the policy subscribed (the reference deployment's choice)."""

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bus.errors import ConfigError
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot


class _Subscription(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer: str
    event_type: str
    purpose: str


class _SubscriptionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subscriptions: list[_Subscription]


def every_grant(snapshot: Snapshot) -> frozenset[Subscription]:
    """A subscription for each consumer × event type × purpose a grant of `snapshot` names."""
    return frozenset(
        Subscription(g.consumer, g.event_type, g.purpose)
        for grants in snapshot.grants.values()
        for g in grants
    )


def load_subscriptions_file(path: Path) -> frozenset[Subscription]:
    """The subscriptions listed in the YAML file `path`
    (`subscriptions: [{consumer, event_type, purpose}, ...]`); ConfigError naming what is wrong."""
    try:
        document = yaml.safe_load(path.read_text())
        found = _SubscriptionsFile.model_validate(document)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: not a subscriptions list: {problems}") from None
    return frozenset(Subscription(s.consumer, s.event_type, s.purpose) for s in found.subscriptions)
