"""`bus agency …`: an agency's signing keys and broker credentials; onboarding and offboarding."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bus.audit.access import TokenRegistry, default_tokens_file
from bus.cli.params import PolicyTopicOption, ProfileOption, agency_id
from bus.control import offboarding
from bus.control.acls import describe
from bus.control.agency_principals import AgencyPrincipals, read_agency_principals
from bus.control.credentials import credentials_path, ensure_credentials, write_agency_profile
from bus.control.offboarding import Offboarding, is_blocked, lift_block
from bus.kafka.admin import KafkaAdmin
from bus.kafka.profile import load_profile
from bus.kafka.topics import POLICY_TOPIC
from bus.keys import generate_key_files
from bus.util.paths import default_state_dir

app = typer.Typer(
    help="Agency signing keys (Ed25519), broker credentials, onboarding and offboarding.",
    no_args_is_help=True,
)

PrivateDir = Annotated[
    Path | None,
    typer.Option(
        help="Where the private key goes (mode 0600). Default: var/keys/private.", file_okay=False
    ),
]
PublicDir = Annotated[
    Path | None,
    typer.Option(
        help="Where the public key goes: the policy set's key folder. Default: var/keys/public.",
        file_okay=False,
    ),
]


AgencyId = Annotated[
    str,
    typer.Argument(metavar="AGENCY_ID", help="The agency's id, e.g. tax-by.", callback=agency_id),
]


@app.command()
def keygen(
    agency: AgencyId,
    private_dir: PrivateDir = None,
    public_dir: PublicDir = None,
) -> None:
    """Make a new Ed25519 key pair for AGENCY_ID. The private key is written, never printed."""
    keys = default_state_dir() / "keys"
    private_path, public_path = generate_key_files(
        agency, private_dir or keys / "private", public_dir or keys / "public"
    )
    typer.echo(f"private key: {private_path} (mode 0600, keep it with the agency)")
    typer.echo(f"public key:  {public_path} (publish it in the policy set)")


@app.command()
def onboard(
    agency: AgencyId,
    signing_key: Annotated[
        bool, typer.Option(help="Also make its event signing key pair, if it has none.")
    ] = True,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    profile: ProfileOption = None,
) -> None:
    """Give AGENCY_ID its own SCRAM credentials on the bus, its connection profile (and a signing
    key); idempotent. As the bus's operator. Re-admits an offboarded agency: lifts the block on
    each principal offboarding blocked.

    What it may read and write follows from the policy and its subscriptions (`bus acl sync`)."""
    connection = load_profile("operator", profile)
    admin = KafkaAdmin(connection)
    _readmit(admin, asyncio.run(read_agency_principals(connection, admin, agency, policy_topic)))
    credentials = ensure_credentials(admin, agency)
    typer.echo(
        f"credentials: user {credentials.username!r}, password in "
        f"{credentials_path(agency)} (mode 0600)"
    )
    typer.echo(f"connection profile: {write_agency_profile(connection, credentials)} (mode 0600)")
    keys = default_state_dir() / "keys"
    if signing_key and not (keys / "private" / f"{agency}.key.pem").exists():
        keygen(agency)


@app.command()
def offboard(
    agency: AgencyId, policy_topic: PolicyTopicOption = POLICY_TOPIC, profile: ProfileOption = None
) -> None:
    """Take AGENCY_ID off the bus, as the bus's operator: block and revoke all its broker access,
    remove its subscriptions (audited), revoke its credentials. The audit trail keeps everything.
    Idempotent.

    Remove the agency from the policy set too (`bus policy apply`)."""
    connection = load_profile("operator", profile)
    admin = KafkaAdmin(connection)
    tokens = TokenRegistry(default_tokens_file())
    now = datetime.now(UTC)
    offboarded = offboarding.offboard(connection, admin, tokens, agency, now, policy_topic)
    _report(asyncio.run(offboarded))


def _readmit(admin: KafkaAdmin, found: AgencyPrincipals) -> None:
    """Lift the block offboarding put on each of its principals (the same ones it blocked)."""
    for principal in found.principals:
        if lift_block(admin, principal):
            typer.echo(f"re-admitted: the offboarding block on {principal} is lifted")
    for principal, other in found.spared:
        if is_blocked(admin, principal):
            typer.echo(
                f"still blocked: {principal}, which the policy set in force gives to {other} "
                f"(`bus agency onboard {other}` re-admits that agency)",
                err=True,
            )


def _report(done: Offboarding) -> None:
    principals = ", ".join(done.principals)
    if done.changed:
        typer.echo(f"offboarded {done.agency} ({principals})")
    else:
        typer.echo(f"{done.agency} was already offboarded: nothing left to remove ({principals})")
    if done.blocked:
        typer.echo("  blocked: DENY on every topic, group, transactional id and the cluster")
    for name in done.dpo_tokens:
        typer.echo(f"  auditor API token revoked: {name} (agency-dpo)")
    for s in done.subscriptions:
        typer.echo(f"  subscription removed (audited): {s.consumer} × {s.event_type} × {s.purpose}")
    for acl in sorted(done.acls, key=describe):
        typer.echo(f"  ACL revoked: {describe(acl)}")
    again = "" if done.changed else " once more"
    for username in done.credentials:
        typer.echo(f"  credentials revoked: SCRAM user {username!r} (its secret replaced{again})")
    if done.password_file is not None:
        typer.echo(f"  password file removed: {done.password_file}")
    if done.profile_file is not None:
        typer.echo(f"  connection profile removed: {done.profile_file}")
    typer.echo("  audit trail: kept (nothing is deleted from bus.audit or the audit store)")
    for principal, other in done.spared:
        typer.echo(
            f"  left alone: {principal}, an earlier policy set's principal for {done.agency}: the "
            f"set in force gives it to {other}",
            err=True,
        )
    if done.in_policy:
        typer.echo(
            f"warning: the policy set in force still names {done.agency}; remove it from the set "
            "and run `bus policy apply` (until then its block keeps it out)",
            err=True,
        )
