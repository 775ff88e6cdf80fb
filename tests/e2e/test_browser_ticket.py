"""The agent page's ticket panel in headless Chromium: a customer reports card fraud, the
bot sends them to the queue, Anna accepts, and the ticket the server drafted is on her
page to edit and file, also in wrap-up after she closed the conversation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.e2e import test_browser as pages
from tests.e2e.harness import Client, RunningServer

pytestmark = pytest.mark.browser

# Chromium, launched as test_browser.py launches it (its fixture, under the same name).
browser = pages.browser

REPORT = "someone used my card without permission"
EDITED_SUMMARY = "Chen reports card payments she did not make; card blocked, fraud team informed."


async def fraud_chat_accepted_by_anna(
    server: RunningServer, clients: list[Client], context: BrowserContext
) -> tuple[Page, Client, str]:
    """Chen (a socket client) reports fraud, the bot queues her as a sensitive case, and
    Anna accepts the offer on the agent page. Returns Anna's page, Chen and the id."""
    # Without the intent model the bot would answer from its knowledge search instead.
    assert await server.services.understanding.wait_ready(), "the intent model did not load"
    agent = await pages.open_page(context, f"{server.url}/agent?user=anna")
    await expect(agent.locator("#presence-toggle")).to_be_enabled(timeout=10_000)
    await agent.click("#presence-toggle")
    await expect(agent.locator("#presence-status")).to_have_attribute("data-status", "ready")

    chen = await server.client("chen")
    clients.append(chen)
    cid = str((await chen.command("conversation.start"))["conversation_id"])
    await chen.wait_event(cid, lambda e: e["data"].get("kind") == "greeting")
    await chen.command("message.send", conversation_id=cid, text=REPORT)
    queued = await chen.wait_event(
        cid, lambda e: e["type"] == "handler.changed" and e["data"].get("to") == "queue"
    )
    assert queued["data"]["context"]["reason"] == "sensitive_intent", queued

    offer = agent.locator("#offers .offer")
    await expect(offer).to_have_count(1, timeout=10_000)
    await offer.locator(".accept").click()
    customer_lines = agent.locator('#messages .msg[data-actor-kind="customer"]')
    await expect(customer_lines.first).to_contain_text("without permission", timeout=10_000)
    return agent, chen, cid


async def socket_draft(server: RunningServer, clients: list[Client], cid: str) -> dict[str, Any]:
    """What `ticket.draft` returns to Anna through a socket of her own."""
    anna = await server.client("anna")
    clients.append(anna)
    ack = await anna.call("ticket.draft", {"conversation_id": cid}, timeout=10.0)
    assert ack["ok"] is True, ack
    return dict(ack["ticket"])


def field(panel: Locator, label: str) -> Locator:
    return panel.get_by_label(label, exact=True)


async def screenshot(page: Page, name: str) -> None:
    if os.environ.get("TANDEM_SCREENSHOTS"):
        await page.screenshot(path=str(Path(os.environ["TANDEM_SCREENSHOTS"]) / name))


async def test_the_agent_edits_the_drafted_ticket_and_files_it(
    server: RunningServer, clients: list[Client], browser: BrowserContext
) -> None:
    agent, _chen, cid = await fraud_chat_accepted_by_anna(server, clients, browser)
    draft = await socket_draft(server, clients, cid)
    assert draft["category"] == "Security/Fraud", draft

    # The page's copy of the categories is the server's.
    embedded = json.loads(await agent.locator("#ticket-categories").text_content() or "{}")
    taxonomy = server.services.tickets.taxonomy
    assert embedded == {name: list(subs) for name, subs in taxonomy.categories.items()}

    # The panel shows the draft, field by field, as the server drafted it.
    panel = agent.locator("#ticket")
    await expect(panel).to_be_visible(timeout=10_000)
    await expect(field(panel, "Category")).to_have_value(draft["category"])
    await expect(field(panel, "Sub-category")).to_have_value(draft["sub_category"])
    await expect(field(panel, "Summary")).to_have_value(draft["summary"])
    await expect(field(panel, "Customer request")).to_have_value(draft["customer_request"])
    await expect(field(panel, "Resolution")).to_have_value(draft["resolution"])
    amounts = "; ".join(
        " ".join(filter(None, (a["value"], a["currency"]))) for a in draft["amounts"]
    )
    await expect(field(panel, "Amounts")).to_have_value(amounts)
    await expect(field(panel, "Dates")).to_have_value("; ".join(draft["dates"]))
    await expect(field(panel, "Card or account")).to_have_value(draft["card_or_account"] or "")
    await expect(panel.locator(".ticket-badge")).to_have_text("Pre-filled by the assistant")
    # The sub-categories offered are the category's.
    subs = await field(panel, "Sub-category").locator("option").all_text_contents()
    assert subs == list(taxonomy.categories[draft["category"]])

    await field(panel, "Summary").fill(EDITED_SUMMARY)
    await screenshot(agent, "ticket_panel.png")
    await panel.get_by_role("button", name="File ticket").click()
    await expect(panel.locator(".ticket-status")).to_have_text("Ticket filed", timeout=10_000)
    # Filed: read-only, with what was filed.
    await expect(panel.locator("textarea, select, input")).to_have_count(0)
    await expect(panel.locator(".ticket-filed")).to_contain_text(EDITED_SUMMARY)
    await expect(agent.locator('#messages .msg[data-type="ticket.filed"]')).to_contain_text(
        "Ticket filed by you"
    )
    await screenshot(agent, "ticket_filed.png")

    token = (await server.login("anna"))["token"]
    status, body = await server.get(f"/api/v1/conversations/{cid}/events", token)
    assert status == 200, body
    filed = [e for e in body["events"] if e["type"] == "ticket.filed"]
    assert len(filed) == 1, filed
    assert filed[0]["actor"] == "agent:anna"
    ticket = filed[0]["data"]["ticket"]
    assert ticket["summary"] == EDITED_SUMMARY
    # Everything else as drafted; the summary is marked as the agent's.
    untouched = {k: v for k, v in draft.items() if k not in ("summary", "sources")}
    assert {k: ticket[k] for k in untouched} == untouched
    assert ticket["sources"] == {**draft["sources"], "summary": "agent"}
    assert agent.errors == []  # type: ignore[attr-defined]


async def test_in_wrap_up_a_refused_ticket_names_the_field_then_files(
    server: RunningServer, clients: list[Client], browser: BrowserContext
) -> None:
    agent, chen, cid = await fraud_chat_accepted_by_anna(server, clients, browser)
    panel = agent.locator("#ticket")
    await expect(field(panel, "Category")).to_have_value("Security/Fraud", timeout=10_000)

    # Closing the conversation leaves its ticket on the page, still editable.
    await agent.click("#close")
    await expect(agent.locator("#conv-state")).to_have_text("Closed", timeout=10_000)
    await expect(agent.locator("#composer")).to_be_disabled()
    await expect(panel).to_be_visible()
    await expect(field(panel, "Summary")).to_be_enabled()

    # Dismissed and brought back: what was typed is still there.
    amounts = field(panel, "Amounts")
    await amounts.fill("12,3,4 EUR")
    await panel.get_by_role("button", name="Dismiss").click()
    await expect(panel).to_be_hidden()
    toggle = agent.locator("#ticket-toggle")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await expect(panel).to_be_visible()
    await expect(amounts).to_have_value("12,3,4 EUR")

    # The server refuses the amount; its message shows next to the field.
    await panel.get_by_role("button", name="File ticket").click()
    error = panel.locator(".field-amounts .field-error")
    await expect(error).to_contain_text("'12,3,4' does not match", timeout=10_000)
    await expect(amounts).to_have_attribute("aria-invalid", "true")
    await expect(panel.locator(".ticket-error")).to_contain_text("Not filed")
    await expect(amounts).to_be_focused()
    await screenshot(agent, "ticket_refused.png")

    await amounts.fill("45.20 EUR")
    await expect(error).to_be_hidden()
    await field(panel, "Resolution").fill("Card blocked; dispute opened with the fraud team.")
    await field(panel, "Card or account").press("Enter")  # submits the form
    await expect(panel.locator(".ticket-status")).to_have_text("Ticket filed", timeout=10_000)
    await expect(panel.locator(".ticket-filed")).to_contain_text("45.20 EUR")

    # After the close the agent no longer reads the log: the customer does.
    status, body = await server.get(f"/api/v1/conversations/{cid}/events", chen.token)
    assert status == 200, body
    types = [e["type"] for e in body["events"]]
    assert types.count("ticket.filed") == 1
    assert types.index("conversation.closed") < types.index("ticket.filed")
    ticket = body["events"][types.index("ticket.filed")]["data"]["ticket"]
    assert ticket["amounts"] == [{"value": "45.20", "currency": "EUR"}]
    assert ticket["resolution"] == "Card blocked; dispute opened with the fraud team."
    assert ticket["category"] == "Security/Fraud"
    assert agent.errors == []  # type: ignore[attr-defined]
