"""Approvals on the real broker: `bus policy apply` refuses a change its approvals do not carry
(saying what is missing) and applies it once they do; the policy topic's readers — the enforcer's
BusStateSource among them — refuse an unsigned or under-approved record even when it was written
with admin credentials, and keep the set before it in force. On topics of the test's own, so the
shared broker's set in force is not replaced."""

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from bus.cli.main import app
from bus.control import policy_store
from bus.control.state_reading import BusStateSource, StateTopics
from bus.demo.approvers import DemoApprovers
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.policy.approval_signatures import sign
from bus.policy.loader import PolicySet, load_policy_set
from bus.policy.snapshot import content_hash
from tests.support.approvals import BOARD, enrolled_reference, sign_as
from tests.support.operator_grants import operator_on

OWNERS = [f"owner-muni-{c}" for c in ("09162000", "09362000", "09564000", "08111000")] + [
    "owner-muni-08221000",
    "owner-muni-06412000",
]


def _in_force(connection: KafkaConnection, topic: str) -> PolicySet | None:
    return asyncio.run(policy_store.latest(connection, topic))


def test_apply_refuses_until_the_change_has_the_approvals_the_set_in_force_requires(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    topic = topic_factory("policy")
    keys = DemoApprovers(tmp_path / "keys")
    first = enrolled_reference(tmp_path / "first", keys)
    on_topic = ["--policy-topic", topic]
    with operator_on(kafka_admin, topic):
        listed = runner.invoke(app, ["policy", "approvals", str(first), *on_topic])
        assert listed.exit_code == 1
        assert "change: nothing in force -> " in listed.output
        assert "missing 2 × role governance-board" in listed.output

        refused = runner.invoke(app, ["policy", "apply", str(first), *on_topic])
        assert refused.exit_code == 1
        assert "refused: approvals missing; the policy set in force stays" in refused.output
        assert _in_force(kafka_broker, topic) is None

        sign_as(first, keys, None)  # the first set: every approver its own rules name
        applied = runner.invoke(app, ["policy", "apply", str(first), *on_topic])
        assert applied.exit_code == 0, applied.output
        assert "approved by board-chair, board-federal, board-states, dpo" in applied.output

        changed = _widened_copy(first, tmp_path / "changed")
        diff = runner.invoke(app, ["policy", "diff", str(first), str(changed)])
        assert "approvals needed (under OLD's rules, by OLD's approvers):" in diff.output
        assert "1 × data owner muni-09162000: releases its population.AddressChanged to kba-de" in (
            diff.output
        )
        for member in BOARD[:2]:  # as each board member does on their own machine
            key = tmp_path / "keys" / "private" / f"{member}.key.pem"
            signed = runner.invoke(
                app,
                [
                    "policy",
                    "sign",
                    str(changed),
                    "--key",
                    str(key),
                    "--approver",
                    member,
                    *on_topic,
                ],
            )
            assert signed.exit_code == 0, signed.output
        refused = runner.invoke(app, ["policy", "apply", str(changed), *on_topic])
        assert refused.exit_code == 1
        assert "missing 1 × an approver for data owner muni-09162000" in refused.output
        assert content_hash(_in_force(kafka_broker, topic)) == content_hash(  # type: ignore[arg-type]
            load_policy_set(first)
        )

        sign_as(changed, keys, load_policy_set(first), *OWNERS)
        listed = runner.invoke(app, ["policy", "approvals", str(changed), *on_topic])
        assert listed.exit_code == 0, listed.output
        applied = runner.invoke(app, ["policy", "apply", str(changed), *on_topic])
        assert applied.exit_code == 0, applied.output
        again = runner.invoke(app, ["policy", "apply", str(changed), *on_topic])
        assert again.exit_code == 0, again.output
        assert "already in force" in again.output  # republished, it would be judged anew
        # For auditors: every applied change, with its approvers, on the append-only topic.
        history = runner.invoke(app, ["policy", "history", *on_topic, "--json"])
        assert history.exit_code == 0, history.output
        rows = json.loads(history.stdout)
        assert [(r["in_force"], r["approved"]) for r in rows] == [(False, True), (True, True)]
        assert rows[1]["parent"] == rows[0]["snapshot"]
        assert rows[1]["approved_by"] == sorted([*BOARD[:2], *OWNERS])
    in_force = _in_force(kafka_broker, topic)
    assert in_force is not None
    assert content_hash(in_force) == content_hash(load_policy_set(changed))


def _widened_copy(source: Path, directory: Path) -> Path:
    """`source` with kba-de receiving the effective date of moves too (no signatures)."""
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("signatures"))
    grants = directory / "grants.yaml"
    grants.write_text(
        grants.read_text().replace(
            "fields: [subject_id, new_address]\n    territorial_rule: either_address",
            "fields: [subject_id, new_address, effective_date]\n    territorial_rule: either_address",
        )
    )
    return directory


async def test_a_record_written_past_apply_is_refused_by_the_enforcers_reader(
    kafka_broker: KafkaConnection,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    topics = StateTopics(topic_factory("policy"), topic_factory("subscriptions"))
    keys = DemoApprovers(tmp_path / "keys")
    first = keys.enrolled(load_policy_set(enrolled_reference(tmp_path / "first", keys)))
    await policy_store.publish(kafka_broker, first, topics.policy, keys.approvals(None, first))
    # Admin credentials, straight onto the topic: a change nobody approved, then one carrying
    # approvals of another change (from another parent), then junk headers.
    grants = first.grants.model_copy(update={"grants": first.grants.grants[:-1]})
    unapproved = replace(first, grants=grants)
    await policy_store.publish(kafka_broker, unapproved, topics.policy)
    replayed = [sign(keys.key(m), content_hash(unapproved), "sha256:" + "0" * 64) for m in BOARD]
    await policy_store.publish(kafka_broker, unapproved, topics.policy, replayed)

    reading = await BusStateSource(kafka_broker, None, topics).read()
    assert reading.snapshot.hash == content_hash(first)
    [refused] = reading.refused  # the newest record under the key; the older one it supersedes
    assert refused.offset == 2
    assert refused.reason == "under-approved: missing 2 × role governance-board"

    # With the approvals the set in force requires, the same set goes in force.
    approved = keys.approvals(first, unapproved, BOARD[:2])
    await policy_store.publish(kafka_broker, unapproved, topics.policy, approved)
    reading = await BusStateSource(kafka_broker, None, topics).read()
    assert reading.snapshot.hash == content_hash(unapproved)
    assert reading.refused == ()


async def test_the_demo_shows_a_change_refused_then_applied_with_the_approvals_it_needs(
    kafka_broker: KafkaConnection, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    # What `bus demo` can call (bus/demo/approvers.py), on a policy topic of the test's own.
    topic = topic_factory("policy")
    approvers = DemoApprovers(tmp_path / "keys")
    first = approvers.enrolled(load_policy_set(enrolled_reference(tmp_path / "first", approvers)))
    assert (await approvers.apply_signed(kafka_broker, first, topic=topic)).approved
    newcomer = next(g for g in first.grants.grants if g.id == "kba-de-address").model_copy(
        update={"id": "zoll-de-address", "consumer": "zoll-de", "purpose": "vehicle-tax"}
    )
    grants = first.grants.model_copy(update={"grants": (*first.grants.grants, newcomer)})
    change = replace(first, grants=grants)

    refused = await approvers.apply_signed(kafka_broker, change, signers=BOARD[:2], topic=topic)
    assert not refused.approved
    assert "missing 1 × role dpo" in refused.refusal()
    in_force = await policy_store.latest(kafka_broker, topic)
    assert in_force is not None
    assert content_hash(in_force) == content_hash(first)

    applied = await approvers.apply_signed(kafka_broker, change, topic=topic)  # all who are needed
    assert applied.approved
    in_force = await policy_store.latest(kafka_broker, topic)
    assert in_force is not None
    assert content_hash(in_force) == content_hash(change)
