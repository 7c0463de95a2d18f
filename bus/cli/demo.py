"""`bus demo`: the reference agencies keeping their records in step through the bus."""

import asyncio
import logging

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from bus.demo.report import print_report
from bus.demo.runner import run_demo
from bus.kafka.settings import load_kafka_settings
from bus.util.logs import LogFormat, configure_logging
from bus.util.paths import default_state_dir


def demo(
    timeout: float = typer.Option(
        120.0, help="Seconds to wait for the scenario (1 to 3600).", min=1.0, max=3600.0
    ),
) -> None:
    """Broker, reference policy, enforcer, registers and four back offices; a scripted scenario
    (moves, a protected person, a death, a refused subscription, a forged event); then what each
    back office received and did not. Exits 0 only if every expectation held."""
    settings = load_kafka_settings()  # a bad setting stops here, before anything starts
    console = Console()
    log_file = default_state_dir() / "demo" / "demo.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(LogFormat.JSON, logging.INFO)
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    handler.setFormatter(root.handlers[0].formatter)
    root.handlers[:] = [handler]  # the terminal is for the progress display
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console
    ) as progress:
        decisions = progress.add_task("decisions audited", total=None)
        offices = progress.add_task("back offices up to date", total=4)

        def advance(audited: int, expected: int, done: int, of: int) -> None:
            progress.update(decisions, completed=audited, total=expected)
            progress.update(offices, completed=done, total=of)

        result = asyncio.run(run_demo(settings, progress.console.print, advance, timeout))
    print_report(console, result)
    console.print(f"(logs: {log_file})")
    if not result.passed:
        console.print("[red]the demo's expectations did not all hold[/red]")
        raise typer.Exit(1)
    console.print("[green]every expectation held[/green]")
