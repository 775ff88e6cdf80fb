"""The pages in headless Chromium: a customer chats with the bot, asks for a person, and
an agent accepts and answers, all through the real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright, expect

from tests.e2e.harness import RunningServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 800},
        )
        try:
            yield context
        finally:
            await context.close()


async def open_page(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def test_customer_chats_with_the_bot_and_an_agent_takes_over(
    server: RunningServer, browser: BrowserContext
) -> None:
    # ?user= signs the demo user in at once.
    customer = await open_page(browser, f"{server.url}/customer?user=alice")
    await expect(customer.locator("#composer")).to_be_enabled(timeout=10_000)

    await customer.fill("#composer", "What are your branch opening hours?")
    await customer.click("#send")
    mine = customer.locator('#messages .msg[data-actor-kind="customer"]')
    await expect(mine.last).to_contain_text("opening hours")
    answer = customer.locator('#messages .msg[data-actor-kind="bot"][data-bot-kind="answer"]')
    await expect(answer.last).to_contain_text("hours", timeout=10_000)

    agent = await open_page(browser, f"{server.url}/agent?user=anna")
    await expect(agent.locator("#presence-toggle")).to_be_enabled(timeout=10_000)
    await agent.click("#presence-toggle")
    await expect(agent.locator("#presence-status")).to_contain_text("Ready", ignore_case=True)

    await customer.click("#talk-to-person")
    await expect(customer.locator("#queue-banner")).to_be_visible()
    offer = agent.locator("#offers .offer")
    await expect(offer).to_have_count(1, timeout=10_000)
    await offer.locator(".accept").click()

    conversation = agent.locator("#conversations .conversation")
    await expect(conversation).to_have_count(1, timeout=10_000)
    customer_lines = agent.locator('#messages .msg[data-actor-kind="customer"]')
    await expect(customer_lines.first).to_contain_text("opening hours")
    await expect(customer.locator("#queue-banner")).to_be_hidden()

    await agent.fill("#composer", "Hello Alice, Anna here. How can I help?")
    await agent.click("#send")
    await expect(customer.locator('#messages .msg[data-actor-kind="agent"]').last).to_contain_text(
        "Anna here", timeout=10_000
    )

    # Both pages show every event once, in order.
    for page in (customer, agent):
        seqs = await page.eval_on_selector_all(
            "#messages .msg[data-seq]", "els => els.map(e => Number(e.dataset.seq))"
        )
        assert seqs == sorted(set(seqs)), seqs
        assert page.errors == []  # type: ignore[attr-defined]

    if os.environ.get("TANDEM_SCREENSHOTS"):
        target = Path(os.environ["TANDEM_SCREENSHOTS"])
        await customer.screenshot(path=str(target / "customer.png"))
        await agent.screenshot(path=str(target / "agent.png"))
