"""`bus agency …`: an agency's signing keys and broker credentials."""

from pathlib import Path
from typing import Annotated

import typer

from bus.credentials import PASSWORD_SUFFIX, default_credentials_dir, ensure_credentials
from bus.kafka import broker
from bus.kafka.admin import KafkaAdmin
from bus.kafka.settings import load_kafka_settings
from bus.keys import generate_key_files
from bus.paths import default_state_dir

app = typer.Typer(
    help="Agency signing keys (Ed25519) and broker credentials.", no_args_is_help=True
)

PrivateDir = Annotated[
    Path | None,
    typer.Option(help="Where the private key goes (mode 0600). Default: var/keys/private."),
]
PublicDir = Annotated[
    Path | None,
    typer.Option(
        help="Where the public key goes: the policy set's key folder. Default: var/keys/public."
    ),
]


@app.command()
def keygen(
    agency_id: Annotated[str, typer.Argument(help="The agency's id, e.g. muni-09162000.")],
    private_dir: PrivateDir = None,
    public_dir: PublicDir = None,
) -> None:
    """Make a new Ed25519 key pair for AGENCY_ID. The private key is written, never printed."""
    keys = default_state_dir() / "keys"
    private_path, public_path = generate_key_files(
        agency_id, private_dir or keys / "private", public_dir or keys / "public"
    )
    typer.echo(f"private key: {private_path} (mode 0600, keep it with the agency)")
    typer.echo(f"public key:  {public_path} (publish it in the policy set)")


@app.command()
def onboard(
    agency_id: Annotated[str, typer.Argument(help="The agency's id, e.g. tax-by.")],
    signing_key: Annotated[
        bool, typer.Option(help="Also make its event signing key pair, if it has none.")
    ] = True,
) -> None:
    """Give AGENCY_ID its own SCRAM credentials on the bus (and a signing key); idempotent.

    What it may read and write follows from the policy and its subscriptions (`bus acl sync`)."""
    settings = load_kafka_settings()
    credentials = ensure_credentials(KafkaAdmin(broker.admin_connection(settings)), agency_id)
    typer.echo(
        f"credentials: user {credentials.username!r}, password in "
        f"{default_credentials_dir() / (agency_id + PASSWORD_SUFFIX)} (mode 0600)"
    )
    keys = default_state_dir() / "keys"
    if signing_key and not (keys / "private" / f"{agency_id}.key.pem").exists():
        keygen(agency_id)
