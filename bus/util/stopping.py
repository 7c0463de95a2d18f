"""Waiting that a stop request cuts short: a long-running loop's pause between attempts."""

import asyncio


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds`; True as soon as `stop` is set, False if the time ran out first."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
