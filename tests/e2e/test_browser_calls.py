"""Calls from the pages in headless Chromium, with a fake camera and microphone.

The customer page calls while the bot serves, waits in the queue, and an aiortc peer
answers for Anna (see test_calls.py); then the customer page calls Anna's softphone on
the agent page, in a second browser context. Media is checked by counting what arrives:
the pages' inbound RTP packets (`getStats()` on the page's `window.tandemCall.pc`) and the
frames the aiortc peer received.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from media.testing import PlainVideoTrack
from tests.e2e import test_browser as pages
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer
from tests.e2e.test_calls import (
    ANNA,
    CALL_EVENTS,
    Browsers,
    answer,
    browsers,
    call_log,
    listen,
    ok,
)

pytestmark = pytest.mark.browser

__all__ = ["browsers"]  # the aiortc peers' fixture, shared with test_calls.py

# Fake devices, permission granted without a prompt, and plain 127.0.0.1 candidates
# (the server's ICE policy drops mDNS names and anything outside 127.0.0.0/8 here).
CALL_ARGS = [
    *pages.ARGS,
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]

# What the page's peer connection has received and sent so far, per kind.
COUNTS = """() => {
  const pc = window.tandemCall && window.tandemCall.pc;
  if (!pc) return null;
  return pc.getStats().then((report) => {
    const out = {state: pc.connectionState, audio: 0, video: 0, sent_audio: 0, sent_video: 0};
    report.forEach((r) => {
      if (r.type === "inbound-rtp") out[r.kind] += r.packetsReceived || 0;
      if (r.type === "outbound-rtp") out["sent_" + r.kind] += r.packetsSent || 0;
    });
    return out;
  });
}"""


@pytest.fixture
async def server(server_factory: ServerFactory, tmp_path: Path) -> RunningServer:
    return await server_factory(recordings_dir=tmp_path / "recordings")


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not shutil.which(pages.CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{pages.CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{pages.CHROMIUM} is not installed (apt-get install -y chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=pages.CHROMIUM, args=CALL_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(browser: Browser) -> BrowserContext:
    return await browser.new_context(
        viewport={"width": 1280, "height": 800}, permissions=["microphone", "camera"]
    )


async def counts(page: Page) -> dict[str, Any]:
    got = await page.evaluate(COUNTS)
    assert got is not None, "the page has no call"
    return dict(got)


async def grows(page: Page, *kinds: str, by: int = 20, seconds: float = 10.0) -> dict[str, Any]:
    """Wait until the page's inbound packets of each kind grew by `by` from now."""
    start = await counts(page)
    deadline = time.monotonic() + seconds
    while True:
        now = await counts(page)
        if all(now[kind] >= start[kind] + by for kind in kinds):
            assert now["state"] == "connected", now
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"inbound {kinds} did not grow: {start} -> {now}")
        await asyncio.sleep(0.2)


async def frames_grow(peer: Any, kind: str, by: int = 20, seconds: float = 10.0) -> None:
    start = len(peer.received[kind])
    deadline = time.monotonic() + seconds
    while len(peer.received[kind]) < start + by:
        if time.monotonic() > deadline:
            raise AssertionError(f"the aiortc peer got {len(peer.received[kind]) - start} {kind}")
        await asyncio.sleep(0.05)


async def screenshot(page: Page, name: str) -> None:
    if os.environ.get("TANDEM_SCREENSHOTS"):
        await page.screenshot(path=str(Path(os.environ["TANDEM_SCREENSHOTS"]) / name))


async def test_the_customer_page_calls_waits_in_the_queue_and_an_agent_answers(
    server: RunningServer, clients: list[Client], browsers: Browsers, chromium: Browser
) -> None:
    async with asyncio.timeout(50):
        anna = await server.client("anna")
        clients.append(anna)
        listen(anna, *CALL_EVENTS)
        context = await new_context(chromium)
        page = await pages.open_page(context, f"{server.url}/customer?user=alice")
        call_button = page.locator("#call-audio")
        await expect(call_button).to_be_enabled(timeout=10_000)
        await expect(page.locator('#messages .msg[data-bot-kind="greeting"]')).to_have_count(1)
        cid = await page.locator("#messages").get_attribute("data-conversation-id")
        assert cid

        # The bot takes no calls: the call goes to the queue, with the queue audio.
        await call_button.click()
        bar = page.locator("#call-bar")
        await expect(bar).to_have_attribute("data-phase", "waiting", timeout=10_000)
        await expect(page.locator("#call-state")).to_have_text("Waiting for an agent")
        await expect(call_button).to_be_disabled()
        await grows(page, "audio")  # the queue audio
        await expect(page.locator("#call-video-on")).to_be_enabled()

        ok(await anna.call("presence.set", {"status": "ready"}))
        offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid, 10)
        assert offer["context"]["call"]["media"] == "audio", offer
        call_id = offer["context"]["call"]["call_id"]
        assert await page.evaluate("window.tandemCall.callId") == call_id
        ok(await anna.command("offer.accept", offer_id=offer["offer_id"]))
        await anna.wait_for("call.incoming", lambda c: c["call_id"] == call_id)
        agent = browsers(ANNA)
        await answer(anna, call_id, agent)

        await expect(page.locator("#call-state")).to_have_text("Talking to Anna", timeout=10_000)
        await expect(bar).to_have_attribute("data-phase", "talking")
        # Media both ways: Anna's tone reaches the page, the page's microphone reaches her.
        await grows(page, "audio", by=50)
        await frames_grow(agent, "audio", by=50)

        # Video on: the page adds its camera and renegotiates; Anna is asked to offer
        # again with video, and then each receives the other's.
        await page.click("#call-video-on")
        available = await anna.wait_for(
            "call.video_available", lambda c: c["call_id"] == call_id, 10
        )
        assert available["from"] == "customer"
        await expect(page.locator("#local-video")).to_be_visible()
        agent.add_video(PlainVideoTrack(320, 240, fps=10))
        both = ok(
            await anna.call("call.renegotiate", {"call_id": call_id, "sdp": await agent.offer()})
        )
        await agent.accept(both["sdp"])
        await frames_grow(agent, "video", by=5)
        await grows(page, "video", by=20)
        await expect(page.locator("#call-media")).to_be_visible()
        await expect(page.locator("#call-video-on")).to_have_text("Camera off")
        await expect(page.locator("#call-timer")).not_to_have_text("0:00")

        # Hang up from the page: the call ends, is logged, and Anna is told.
        await page.click("#call-hangup")
        await expect(bar).to_have_attribute("data-phase", "ended", timeout=10_000)
        await expect(page.locator("#call-state")).to_have_text("Call ended")
        await expect(page.locator("#call-detail")).to_contain_text("You hung up")
        ended = await anna.wait_for("call.ended", lambda c: c["call_id"] == call_id, 10)
        assert ended["reason"] == "customer_hangup"
        notice = page.locator('#messages .msg[data-type="call.ended"]')
        await expect(notice).to_contain_text("Call ended", timeout=10_000)
        assert await page.evaluate("window.tandemCall.pc.connectionState") == "closed"
        await expect(call_button).to_be_enabled()

    log = await call_log(server, cid)
    types = [t for t, _ in log]
    assert types == [
        "channel.opened",
        "call.started",
        "call.answered",
        "call.upgraded",
        "call.ended",
        "channel.closed",
    ], types
    end = dict(log)["call.ended"]
    assert end["reason"] == "customer_hangup" and end["talk_seconds"] > 1.0, end
    assert len(server.services.calls) == 0
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


async def test_the_agent_softphone_answers_a_video_call_from_the_customer_page(
    server: RunningServer, chromium: Browser
) -> None:
    async with asyncio.timeout(50):
        agent_context, customer_context = await new_context(chromium), await new_context(chromium)
        agent = await pages.open_page(agent_context, f"{server.url}/agent?user=anna")
        await expect(agent.locator("#presence-toggle")).to_be_enabled(timeout=10_000)
        await agent.click("#presence-toggle")
        await expect(agent.locator("#presence-status")).to_have_attribute("data-status", "ready")

        customer = await pages.open_page(customer_context, f"{server.url}/customer?user=alice")
        await expect(customer.locator("#composer")).to_be_enabled(timeout=10_000)
        await customer.fill("#composer", "I want to ask about my card limit")
        await customer.click("#send")
        await customer.click("#talk-to-person")
        offer = agent.locator("#offers .offer")
        await expect(offer).to_have_count(1, timeout=10_000)
        await offer.locator(".accept").click()
        await expect(customer.locator("#handler-name")).to_have_text("Anna", timeout=10_000)
        cid = await customer.locator("#messages").get_attribute("data-conversation-id")
        assert cid

        # The customer calls with video; Anna's page rings with who and why.
        await customer.click("#call-video")
        incoming = agent.locator("#incoming-call")
        await expect(incoming).to_be_visible(timeout=10_000)
        await expect(incoming.locator("#incoming-title")).to_have_text("Incoming video call")
        await expect(incoming.locator("#incoming-customer")).to_have_text("Alice Martin")
        await expect(customer.locator("#call-state")).to_have_text("Calling Anna…")
        await incoming.get_by_role("button", name="Accept").click()
        await expect(incoming).to_be_hidden()

        softphone = agent.locator("#softphone")
        await expect(softphone).to_have_attribute("data-phase", "talking", timeout=10_000)
        await expect(customer.locator("#call-state")).to_have_text(
            "Talking to Anna", timeout=10_000
        )
        # Both pages receive the other's audio and video.
        await grows(customer, "audio", "video", by=30)
        await grows(agent, "audio", "video", by=30)
        await expect(customer.locator("#call-media")).to_be_visible()
        await expect(agent.locator("#softphone-media")).to_be_visible()

        # Hold and resume: the customer's bar follows the log.
        await agent.click("#call-hold")
        await expect(customer.locator("#call-bar")).to_have_attribute(
            "data-phase", "held", timeout=10_000
        )
        await expect(customer.locator("#call-state")).to_have_text("On hold")
        await expect(agent.locator("#call-hold")).to_have_text("Resume")
        await agent.click("#call-hold")
        await expect(customer.locator("#call-state")).to_have_text(
            "Talking to Anna", timeout=10_000
        )

        # Recording only after Anna confirms the customer agreed.
        await agent.click("#call-record")
        consent = agent.locator("#softphone-consent")
        await expect(consent).to_be_visible()
        await consent.get_by_role("button", name="Customer agreed: record").click()
        await expect(agent.locator("#softphone-recording")).to_be_visible(timeout=10_000)
        await expect(customer.locator("#call-detail")).to_contain_text("being recorded")

        await customer.click("#call-mute")
        await expect(customer.locator("#call-mute")).to_have_text("Unmute")
        await expect(customer.locator("#call-detail")).to_contain_text("You are muted")
        # The other side is told (call.muted), both ways.
        await expect(agent.locator("#softphone-state")).to_contain_text("customer muted")
        await agent.click("#call-mute")
        await expect(customer.locator("#call-detail")).to_contain_text("Anna is muted")
        await expect(agent.locator("#softphone-timer")).not_to_have_text("0:00")
        await screenshot(agent, "softphone.png")
        await screenshot(customer, "customer_call.png")

        await agent.click("#call-hangup")
        await expect(softphone).to_have_attribute("data-phase", "ended", timeout=10_000)
        await expect(agent.locator("#softphone-state")).to_contain_text("Call ended")
        await expect(customer.locator("#call-bar")).to_have_attribute(
            "data-phase", "ended", timeout=10_000
        )
        await expect(customer.locator("#call-detail")).to_contain_text("The agent ended the call")
        for page in (agent, customer):
            assert await page.evaluate("window.tandemCall.pc.connectionState") == "closed"

    log = await call_log(server, cid)
    types = [t for t, _ in log]
    assert types == [
        "channel.opened",
        "call.started",
        "call.answered",
        "call.held",
        "call.resumed",
        "recording.started",
        "recording.saved",
        "call.ended",
        "channel.closed",
    ], types
    assert dict(log)["call.started"]["media"] == "video"
    assert dict(log)["call.ended"]["reason"] == "agent_hangup"
    for page in (agent, customer):
        assert page.errors == []  # type: ignore[attr-defined]
    await agent_context.close()
    await customer_context.close()
