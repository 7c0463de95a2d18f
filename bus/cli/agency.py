"""`bus agency …`: an agency's signing keys."""

from pathlib import Path
from typing import Annotated

import typer

from bus.keys import generate_key_files
from bus.paths import default_state_dir

app = typer.Typer(help="Agency signing keys (Ed25519).", no_args_is_help=True)

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
