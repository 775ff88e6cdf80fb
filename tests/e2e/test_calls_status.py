"""What a call shows each side about the other: mute, and the waiting slate's queue position.

Through the real server, with python-socketio clients for the signaling and aiortc peers
for the browsers (`media.testing.LoopbackClient`, which decodes what it receives, as a
browser would).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from media.assets import WAITING_LINES, waiting_lines
from media.slate import render_slate
from media.testing import LoopbackClient, PlainVideoTrack, SineTrack
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer
from tests.e2e.test_calls import (
    CALL_EVENTS,
    Browsers,
    browsers,
    listen,
    ok,
    rms,
    talking,
    until,
    window,
)

__all__ = ["browsers"]


def muted_events(client: Client, call_id: str) -> list[tuple[str, bool]]:
    return [
        (data["party"], data["muted"])
        for name, data in client.received
        if name == "call.muted" and data["call_id"] == call_id
    ]


async def test_each_side_is_told_when_the_other_mutes(
    server: RunningServer, clients: list[Client], browsers: Browsers
) -> None:
    alice, anna, _cid, call_id, customer, agent = await talking(server, clients, browsers)
    listen(alice, "call.muted")
    listen(anna, "call.muted")

    assert ok(await alice.call("call.mute", {"call_id": call_id, "muted": True}))["muted"]
    await until(lambda: muted_events(anna, call_id) == [("customer", True)])
    await until(lambda: muted_events(alice, call_id) == [("customer", True)])
    # What the agent was told is what the server does: the customer is not heard.
    assert rms(agent, await window(0.6)) < 50

    ok(await alice.call("call.mute", {"call_id": call_id, "muted": False}))
    ok(await anna.call("call.mute", {"call_id": call_id, "muted": True}))
    await until(
        lambda: (
            muted_events(alice, call_id)
            == [("customer", True), ("customer", False), ("agent", True)]
        )
    )
    await until(lambda: muted_events(anna, call_id)[-1] == ("agent", True))
    assert rms(customer, await window(0.6)) < 50

    # Muting again changes nothing, so nobody is told again.
    ok(await anna.call("call.mute", {"call_id": call_id, "muted": True}))
    ok(await anna.call("call.mute", {"call_id": call_id, "muted": False}))
    await until(lambda: muted_events(alice, call_id)[-1] == ("agent", False))
    assert muted_events(alice, call_id).count(("agent", True)) == 1
    assert rms(customer, await window(0.6)) > 1000


def luma(frame: av.VideoFrame) -> npt.NDArray[np.int16]:
    plane = frame.planes[0]
    rows = np.frombuffer(bytes(plane), np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width].astype(np.int16)


def nearest(frame: av.VideoFrame, candidates: dict[str, npt.NDArray[np.int16]]) -> str:
    """Which rendered slate the received (VP8-degraded) picture is closest to."""
    picture = luma(frame)
    return min(candidates, key=lambda name: float(np.abs(picture - candidates[name]).mean()))


async def shows(peer: LoopbackClient, expected: str, slates: dict[str, Any], since: float) -> Any:
    """The first video frame received after `since` that is the `expected` slate."""
    deadline = time.monotonic() + 8.0
    seen: list[str] = []
    while time.monotonic() < deadline:
        for at, frame in list(peer.received["video"]):
            if at >= since and frame.width == 320:
                name = nearest(frame, slates)
                if name == expected:
                    return frame
                seen.append(name)
        await asyncio.sleep(0.1)
    raise AssertionError(f"never showed {expected!r}; showed {sorted(set(seen))}")


async def test_the_waiting_slate_shows_the_queue_position(
    server_factory: ServerFactory, clients: list[Client], browsers: Browsers
) -> None:
    server = await server_factory(agent_capacity=1)
    bob = await server.client("bob")
    alice = await server.client("alice")
    clients += [bob, alice]
    listen(alice, *CALL_EVENTS)
    # Bob waits in the queue first; Alice calls and waits behind him.
    bob_cid = str((await bob.command("conversation.start"))["conversation_id"])
    await bob.command("agent.request", conversation_id=bob_cid)
    cid = str((await alice.command("conversation.start"))["conversation_id"])
    await alice.wait_event(cid, lambda e: e["data"].get("kind") == "greeting")
    peer = LoopbackClient(audio=SineTrack(440.0), video=PlainVideoTrack(160, 128, fps=5))
    browsers.made.append(peer)
    ack = ok(
        await alice.call(
            "call.start",
            {
                "key": uuid.uuid4().hex,
                "conversation_id": cid,
                "media": "video",
                "sdp": await peer.offer(),
            },
        )
    )
    await peer.accept(ack["sdp"])

    slates = {
        "waiting": luma(render_slate(320, 240, lines=WAITING_LINES)),
        "position 1": luma(render_slate(320, 240, lines=waiting_lines(1))),
        "position 2": luma(render_slate(320, 240, lines=waiting_lines(2))),
    }
    second = await shows(peer, "position 2", slates, 0.0)
    # The chat says the same.
    queued = await alice.wait_for("queue.position", lambda q: q["conversation_id"] == cid)
    assert queued["position"] == 2

    # Anna takes Bob's conversation: Alice is next, and her slate says so.
    anna = await server.client("anna")
    clients.append(anna)
    assert (await anna.call("presence.set", {"status": "ready"}))["ok"]
    offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == bob_cid)
    await anna.command("offer.accept", offer_id=offer["offer_id"])
    moved = time.monotonic()
    first = await shows(peer, "position 1", slates, moved)
    # The two pictures differ where the digit is, and only a little elsewhere.
    difference = np.abs(luma(first) - luma(second))
    assert difference.max() > 100
    assert float(difference.mean()) < 10
