"""Blocking broker calls in a thread, one at a time, in the order they were asked for.

A caller that gives up (its refresh timed out and was cancelled) cannot stop its thread: the call
runs on and lands whenever the broker answers. Were the next call started meanwhile, an abandoned
ACL sync could land after a newer one and re-grant a READ it revoked. So the next call waits until
the previous one has really finished; a call whose caller gave up before it started never starts."""

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class OneAtATime:
    """Runs blocking calls in a thread, each after the previous one has finished (see above)."""

    def __init__(self) -> None:
        self._running: asyncio.Future[Any] | None = None

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` in a thread once the previous call has finished; its result.
        Cancelling the caller leaves the call running to its end."""
        while self._running is not None and not self._running.done():
            await asyncio.wait([self._running])  # also when its caller is gone: let it land
        task = asyncio.ensure_future(asyncio.to_thread(call, *args, **kwargs))
        task.add_done_callback(_retrieve)
        self._running = task
        return await asyncio.shield(task)  # cancelling the caller leaves the call running


def _retrieve(task: "asyncio.Future[Any]") -> None:
    """An abandoned call's failure has no one to raise to; its caller's timeout was logged."""
    if not task.cancelled():
        task.exception()
