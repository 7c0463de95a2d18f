"""The watch's delivery tracking: a batch's body returns only once every write tracked before it
finished is acknowledged, even when a timer waits at the same time."""

import asyncio

import pytest

from bus.watch.delivered import Deliveries


async def test_delivered_waits_for_every_tracked_write() -> None:
    deliveries = Deliveries()
    first, second = asyncio.Future[int](), asyncio.Future[int]()
    deliveries.track(first)
    deliveries.track(second)
    waiting = asyncio.ensure_future(deliveries.delivered())
    first.set_result(1)
    await asyncio.sleep(0)
    assert not waiting.done()  # one write still in flight
    second.set_result(2)
    assert await waiting == 2
    assert await deliveries.delivered() == 0  # done writes are forgotten


async def test_a_second_waiter_is_not_released_by_the_first_taking_the_writes() -> None:
    """The timer and the batch body both wait: neither may return before the writes it saw
    tracked are done (the batch's records would be acknowledged too early)."""
    deliveries = Deliveries()
    write = asyncio.Future[int]()
    deliveries.track(write)
    timer = asyncio.ensure_future(deliveries.delivered())
    await asyncio.sleep(0)
    batch = asyncio.ensure_future(deliveries.delivered())
    await asyncio.sleep(0)
    assert not batch.done()
    assert not timer.done()
    write.set_result(0)
    assert await batch == 1
    assert await timer == 1


async def test_a_failed_write_is_raised_to_the_waiter() -> None:
    deliveries = Deliveries()
    failed = asyncio.Future[int]()
    deliveries.track(failed)
    failed.set_exception(ConnectionError("broker gone"))
    with pytest.raises(ConnectionError, match="broker gone"):
        await deliveries.delivered()
