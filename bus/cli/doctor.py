"""`bus doctor`: check a running deployment as the operator; exit 1 naming each problem."""

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.params import ProfileOption
from bus.control.doctor.examination import DoctorSettings, examine
from bus.control.retention import load_retention_settings
from bus.kafka.profile import default_profile_path, load_profile


def _profiles_directory(directory: Path | None) -> Path | None:
    """A profiles directory must hold profiles: an empty or wrong one would only hide the check."""
    if directory is not None and not any(directory.glob("*.toml")):
        raise typer.BadParameter(f"{directory} holds no connection profile (*.toml)")
    return directory


def doctor(
    profile: ProfileOption = None,
    profiles_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="The services' connection profiles, to check who each connects as "
            "(default: the lab's var/kafka/profiles, if it exists).",
            file_okay=False,
            callback=_profiles_directory,
        ),
    ] = None,
    cert_days: Annotated[
        int, typer.Option(min=1, max=3650, help="A certificate expiring within DAYS is a problem.")
    ] = 30,
    max_lag: Annotated[
        int,
        typer.Option(
            min=0, max=10**9, help="An ingress topic more records behind than this is a problem."
        ),
    ] = 10_000,
) -> None:
    """Check TLS on every listener, who the services connect as, ACLs against the policy,
    replication, retention, certificates and the enforcer's lag. Exit 1 naming each problem."""
    connection = load_profile("operator", profile)
    lab_profiles = default_profile_path("operator").parent
    directory = profiles_dir or (lab_profiles if lab_profiles.is_dir() else None)
    settings = DoctorSettings(
        profiles_dir=directory,
        cert_within=timedelta(days=cert_days),
        lag_limit=max_lag,
        retention=load_retention_settings(),
    )
    typer.echo(f"examining the bus at {connection.bootstrap} as {connection.username}")
    results = examine(connection, settings)
    problems = 0
    for result in results:
        mark = "ok" if result.healthy else f"{len(result.findings)} problem(s)"
        typer.echo(f"{result.check:<13} {mark:<14} {result.looked_at}")
        for finding in result.findings:
            typer.echo(f"    - {finding.problem}\n      fix: {finding.fix}")
        problems += len(result.findings)
    if directory is None:
        typer.echo("services      skipped        no profiles directory (--profiles-dir)")
    if problems:
        typer.echo(f"{problems} problem(s) found")
        raise typer.Exit(1)
    typer.echo("no problems found")
