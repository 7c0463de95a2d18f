"""`bus lab …`: what the lab needs besides the broker and PostgreSQL."""

import typer

from bus.devenv.debian_packages import TEST_TOOLS, ensure_test_tools

app = typer.Typer(help="The lab's tools.", no_args_is_help=True)


@app.command()
def tools() -> None:
    """Install the tools the tests use from Debian's packages if missing (as root): promtool
    (prometheus), headless Chromium and chromedriver (chromium, chromium-driver)."""
    found = ensure_test_tools(say=typer.echo)
    for tool, path in found.items():
        typer.echo(f"{tool}: {path} (Debian package {TEST_TOOLS[tool]})")
