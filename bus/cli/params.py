"""Checked command-line values shared by the `bus` commands: a bad one is refused before anything
runs, by the command-line parser, with the option's name and what is expected (exit 2)."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from bus.catalog import CATALOG
from bus.control.agency_ids import check_agency_id, check_purpose_code
from bus.control.state_topics import check_state_topic
from bus.errors import ConfigError
from bus.util.shown_values import shown

_GROUP = re.compile(r"[A-Za-z0-9._-]{1,200}")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")  # Kafka's own rule for topic names


def _parameter(check: Callable[[str], str]) -> Callable[[str | None], str | None]:
    def callback(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check(value)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


_APPROVER = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")  # as Approver.id in approvals.yaml


def check_event_type(value: str) -> str:
    """`value` if it is an event type of the catalogue; ConfigError if not."""
    if value not in CATALOG.event_types():
        raise ConfigError(
            f"{shown(value)} is not an event type of the catalogue (see `bus catalog list`)"
        )
    return value


def check_consumer_group(value: str) -> str:
    """`value` if it has the shape of a consumer group name; ConfigError if not."""
    if not _GROUP.fullmatch(value):
        raise ConfigError(
            f"{shown(value)} is not a consumer group name (1-200 of A-Z a-z 0-9 . _ -)"
        )
    return value


def check_topic(value: str) -> str:
    """`value` if it is a valid Kafka topic name; ConfigError if not."""
    if not _TOPIC.fullmatch(value):
        raise ConfigError(f"{shown(value)} is not a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)")
    return value


def check_approver_id(value: str) -> str:
    """`value` if it has the shape of an approver id of approvals.yaml (it names the signature
    file); ConfigError if not."""
    if not _APPROVER.fullmatch(value):
        raise ConfigError(
            f"{shown(value)} is not an approver id (2-63 of a-z 0-9 -, as in approvals.yaml)"
        )
    return value


agency_id = _parameter(check_agency_id)
approver_id = _parameter(check_approver_id)
topic_name = _parameter(check_topic)
state_topic_name = _parameter(lambda value: check_state_topic(check_topic(value)))
consumer_group = _parameter(check_consumer_group)
purpose_code = _parameter(check_purpose_code)
event_type = _parameter(check_event_type)

ConsumerOption = Annotated[
    str,
    typer.Option("--consumer", metavar="ID", help="The receiving agency's id.", callback=agency_id),
]
EventTypeOption = Annotated[
    str,
    typer.Option(
        "--event-type", metavar="TYPE", help="e.g. population.AddressChanged", callback=event_type
    ),
]
PurposeOption = Annotated[
    str,
    typer.Option(
        "--purpose", metavar="CODE", help="The purpose code the grant names.", callback=purpose_code
    ),
]
PolicyDirOption = Annotated[
    Path,
    typer.Option(
        "--policy", metavar="DIR", help="The policy set in force.", exists=True, file_okay=False
    ),
]
PolicySetOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="DIR",
        help="A policy set directory. Default: the set `bus policy apply` published.",
        exists=True,
        file_okay=False,
    ),
]
PolicyTopicOption = Annotated[
    str,
    typer.Option(
        "--policy-topic",
        metavar="TOPIC",
        help="Where `bus policy apply` publishes (without --policy, the set in force there).",
        callback=state_topic_name,
    ),
]
SubscriptionsTopicOption = Annotated[
    str,
    typer.Option(
        "--subscriptions-topic",
        metavar="TOPIC",
        help="The subscriptions registry.",
        callback=state_topic_name,
    ),
]
MetricsPortOption = Annotated[
    int,
    typer.Option(help="Serve Prometheus /metrics on 127.0.0.1:PORT (0: off).", min=0, max=65535),
]
ProfileOption = Annotated[
    Path | None,
    typer.Option(
        "--profile",
        metavar="FILE",
        help=(
            "The connection profile to reach the bus with (docs/connection-profile.md). "
            "Default: $BUS_PROFILE, else the role's file under var/kafka/profiles/."
        ),
        dir_okay=False,
    ),
]
