"""Graceful shutdown for the long-running commands: SIGTERM or Ctrl-C sets `stop`, and the service
finishes (or aborts) what it has in hand before it returns."""

import asyncio
import signal


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set `stop` on SIGTERM or Ctrl-C (SIGINT). Call from inside the running event loop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
