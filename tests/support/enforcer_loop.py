"""Running an in-process enforcer in a test until something has happened, failing if its loop ends
or nothing happens in time."""

import asyncio
from collections.abc import Callable

import pytest

from bus.enforcer.service import Enforcer


async def until(done: Callable[[], bool], task: "asyncio.Task[None]", seconds: float = 60) -> None:
    for _ in range(int(seconds * 4)):
        if done():
            return
        assert not task.done(), "the loop ended"
        await asyncio.sleep(0.25)
    pytest.fail(f"not done within {seconds:.0f} s")


async def run_until(enforcer: Enforcer, count: int) -> None:
    """Run `enforcer` until it has committed `count` records, then stop it; exactly `count`."""
    stop = asyncio.Event()
    task = asyncio.create_task(enforcer.run(stop))
    try:
        await until(lambda: enforcer.processed >= count, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert enforcer.processed == count
