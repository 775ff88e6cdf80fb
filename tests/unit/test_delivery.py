"""Delivery cursors: exactly once, in order, whatever order the feed and resumes come in."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.delivery import Delivery
from sessions.memory_store import MemoryStore
from tests.integration.store_contract import message, started


class Recorder:
    def __init__(self) -> None:
        self.sent: dict[str, list[int]] = {}

    async def __call__(self, event: str, data: dict[str, Any], sid: str, namespace: str) -> None:
        assert event == "event"
        self.sent.setdefault(sid, []).append(data["seq"])
        await asyncio.sleep(0)  # a real emit yields: let races happen


async def filled_store(messages: int) -> MemoryStore:
    store = MemoryStore()
    await store.append("c1", 0, started("alice"))
    await store.append("c1", 2, [message(f"m{i}") for i in range(messages)])
    return store


async def test_follow_sends_everything_after_the_cursor() -> None:
    store = await filled_store(3)
    emit = Recorder()
    delivery = Delivery(store, emit)
    assert await delivery.follow("s1", "/customer", "c1", 0) == 5
    assert await delivery.follow("s2", "/agent", "c1", 3) == 5
    assert emit.sent == {"s1": [1, 2, 3, 4, 5], "s2": [4, 5]}


async def test_live_events_old_duplicate_and_ahead_of_the_cursor() -> None:
    store = await filled_store(3)
    emit = Recorder()
    delivery = Delivery(store, emit)
    await delivery.follow("s1", "/customer", "c1", 5)
    events = await store.read("c1")
    await store.append("c1", 5, [message("m3"), message("m4")])
    newest = await store.read("c1", 5)
    await delivery.publish(events[2])  # old: dropped
    await delivery.publish(newest[1])  # seq 7 before 6: 6 is filled from the store first
    await delivery.publish(newest[0])  # 6 again: dropped
    await delivery.publish(newest[1])  # duplicate: dropped
    assert emit.sent["s1"] == [6, 7]


async def test_resume_racing_live_events_gives_no_gap_and_no_duplicate() -> None:
    store = await filled_store(50)
    emit = Recorder()
    delivery = Delivery(store, emit)
    log = await store.read("c1")
    resume = asyncio.create_task(delivery.follow("s1", "/customer", "c1", 10))
    await asyncio.gather(*(delivery.publish(event) for event in log[20:]), resume)
    assert emit.sent["s1"] == list(range(11, 53))


async def test_stop_after_delivers_up_to_the_switch_and_nothing_later() -> None:
    store = await filled_store(2)
    emit = Recorder()
    delivery = Delivery(store, emit)
    await delivery.follow("agent", "/agent", "c1", 2)
    await store.append("c1", 4, [message("after")])
    await delivery.stop_after("agent", "c1", 4)
    await delivery.publish((await store.read("c1", 4))[0])
    assert emit.sent["agent"] == [3, 4]
    assert delivery.followers("c1") == 0


async def test_forget_drops_every_cursor_of_a_connection() -> None:
    store = await filled_store(1)
    emit = Recorder()
    delivery = Delivery(store, emit)
    await delivery.follow("s1", "/customer", "c1", 0)
    delivery.forget("s1")
    await store.append("c1", 3, [message("later")])
    await delivery.publish((await store.read("c1", 3))[0])
    assert emit.sent["s1"] == [1, 2, 3]
    assert delivery.followers("c1") == 0
