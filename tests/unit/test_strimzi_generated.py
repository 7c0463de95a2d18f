"""deploy/kubernetes/generated/ holds what the generators make now for the reference policy set:
a change of policy, catalogue, ACLs or retention (or a grant that expired) without regenerating
(`.venv/bin/python deploy/kubernetes/generate.py`) fails here instead of going stale."""

from pathlib import Path

import yaml

from bus.control.strimzi.reference import TOPICS_FILE, USERS_FILE, reference_files

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "deploy" / "kubernetes" / "generated"


def test_committed_resources_are_what_the_generators_make_now() -> None:
    wanted = reference_files(ROOT / "policies" / "reference")
    assert sorted(wanted) == sorted([TOPICS_FILE, USERS_FILE])
    for name, content in wanted.items():
        committed = (GENERATED / name).read_text()
        assert committed == content, (
            f"deploy/kubernetes/generated/{name} is stale: run "
            "`.venv/bin/python deploy/kubernetes/generate.py` and commit the result"
        )


def test_committed_resources_are_users_and_topics() -> None:
    users = list(yaml.safe_load_all((GENERATED / USERS_FILE).read_text()))
    topics = list(yaml.safe_load_all((GENERATED / TOPICS_FILE).read_text()))
    assert {u["kind"] for u in users} == {"KafkaUser"}
    assert {t["kind"] for t in topics} == {"KafkaTopic"}
    assert {"bus-enforcer", "bus-operator", "audit-indexer", "audit-verifier"} <= {
        u["metadata"]["name"] for u in users
    }
