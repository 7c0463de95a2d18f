"""Each service acts as its own principal with exactly its ACLs: never User:ANONYMOUS, never the
broker's admin or another super user, and no wildcard principal holds any ALLOW.

A super user is not visible in the brokers' configuration (Kafka masks `super.users`), so each
service profile found is tried: as that principal, ask for a consumer group's offsets that no
service has rights to. Only a super user (or a principal granted every group) gets an answer.
"""

from pathlib import Path

from bus.control.doctor.finding import Finding
from bus.control.service_principals import SERVICE_ROLES, service_acls, service_usernames
from bus.errors import BrokerError, ConfigError
from bus.kafka.admin import Acl, KafkaAdmin
from bus.kafka.profile import load_profile

CHECK = "principals"
PROBE_GROUP = "govbus-doctor-probe"  # no principal but a super user may describe it
_WILDCARDS = {"User:*", "User:ANONYMOUS"}


def check_open_principals(on_broker: set[Acl]) -> list[Finding]:
    """A finding per ALLOW held by a wildcard or anonymous principal."""
    return [
        Finding(
            CHECK,
            f"{acl.principal} is allowed {acl.operation.name} on {acl.resource.name} {acl.name}",
            "delete the ACL: every client authenticates as its own principal",
        )
        for acl in sorted(on_broker, key=str)
        if acl.allow and acl.principal in _WILDCARDS
    ]


def check_service_acls(on_broker: set[Acl]) -> list[Finding]:
    """A finding per service ACL missing (the service cannot do its job) or extra (it can do
    more than its job)."""
    findings: list[Finding] = []
    for principal, wanted in sorted(service_acls().items()):
        held = {a for a in on_broker if a.principal == principal and a.allow}
        for acl in sorted(wanted - held, key=str):
            findings.append(
                Finding(
                    CHECK,
                    f"{principal} lacks {acl.operation.name} on {acl.resource.name} {acl.name}",
                    "grant it (the lab: bus kafka up; Kubernetes: bus acl export --strimzi)",
                )
            )
        for acl in sorted(held - wanted, key=str):
            findings.append(
                Finding(
                    CHECK,
                    f"{principal} holds {acl.operation.name} on {acl.resource.name} {acl.name}"
                    " beyond its job",
                    "delete the ACL",
                )
            )
    return findings


def check_service_profiles(profiles_dir: Path) -> list[Finding]:
    """A finding per service profile in `profiles_dir` whose principal is anonymous, the broker
    admin or a super user, or that is missing or cannot connect."""
    findings: list[Finding] = []
    privileged = service_usernames() - set(SERVICE_ROLES.values())  # the broker's admin
    for role, user in sorted(SERVICE_ROLES.items()):
        path = profiles_dir / f"{role}.toml"
        try:
            connection = load_profile(role, path)
        except ConfigError as exc:
            findings.append(Finding(CHECK, f"the {role}'s profile: {exc}", "fix the profile"))
            continue
        if connection.username in privileged or connection.username == "ANONYMOUS":
            findings.append(
                Finding(
                    CHECK,
                    f"the {role} connects as {connection.username} ({path})",
                    f"give it its own principal {user}",
                )
            )
            continue
        try:
            KafkaAdmin(connection).committed_offsets(PROBE_GROUP)
        except BrokerError as exc:
            if "AUTHORIZATION_FAILED" not in str(exc):
                findings.append(
                    Finding(CHECK, f"the {role} cannot be checked: {exc}", "check its profile")
                )
            continue
        findings.append(
            Finding(
                CHECK,
                f"the {role} ({connection.username}) acts as a super user: it may describe any"
                " consumer group",
                f"remove {connection.username} from super.users and its wildcard ACLs",
            )
        )
    return findings
