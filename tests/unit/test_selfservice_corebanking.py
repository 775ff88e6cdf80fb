"""The demo core bank: seeded data, idempotent mutations, refusals and outages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from handoff.selfservice.corebanking import CoreBanking, CoreBankingError, DemoBank

NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def bank() -> DemoBank:
    return DemoBank(clock=lambda: NOW, seed=7)


def test_the_demo_bank_implements_the_port(bank: DemoBank) -> None:
    port: CoreBanking = bank
    assert port is bank


async def test_demo_customers_have_accounts_cards_and_transfers(bank: DemoBank) -> None:
    for customer in ("alice", "bob", "carol"):
        assert 1 <= len(await bank.list_accounts(customer)) <= 2
        assert 1 <= len(await bank.list_cards(customer)) <= 2
        assert await bank.list_transfers(customer)
    cards = {card.last4: card for card in await bank.list_cards("alice")}
    assert cards["1234"].kind == "debit"
    assert cards["5678"].kind == "credit"
    assert all(isinstance(card.daily_limit, Decimal) for card in cards.values())


async def test_transfers_are_listed_most_recent_first_with_dates_from_the_clock(
    bank: DemoBank,
) -> None:
    transfers = await bank.list_transfers("alice")
    assert [t.reference for t in transfers] == ["TR-1001", "TR-1003", "TR-1002"]
    assert transfers[0].created == date(2026, 3, 3)
    found = await bank.transfer_status("alice", "tr-1001")
    assert found.status == "pending"


async def test_unknown_things_are_not_found(bank: DemoBank) -> None:
    with pytest.raises(CoreBankingError) as caught:
        await bank.list_cards("mallory")
    assert caught.value.code == "not_found"
    with pytest.raises(CoreBankingError) as caught:
        await bank.transfer_status("alice", "TR-9999")
    assert caught.value.code == "not_found"
    with pytest.raises(CoreBankingError) as caught:
        await bank.balance("alice", "acc-bob-current")
    assert caught.value.code == "not_found"


async def test_reporting_a_card_lost_twice_with_one_request_orders_one_card(
    bank: DemoBank,
) -> None:
    first = await bank.report_lost_card("bob", "card-bob-debit", "c-1:3")
    again = await bank.report_lost_card("bob", "card-bob-debit", "c-1:3")
    assert again == first
    assert bank.replacement_orders("bob") == (first,)
    assert first.delivery_estimate == date(2026, 3, 11)  # five working days
    (card,) = await bank.list_cards("bob")
    assert card.status == "lost"


async def test_a_new_request_cannot_report_a_lost_card_again(bank: DemoBank) -> None:
    await bank.report_lost_card("bob", "card-bob-debit", "c-1:3")
    with pytest.raises(CoreBankingError) as caught:
        await bank.report_lost_card("bob", "card-bob-debit", "c-1:5")
    assert caught.value.code == "not_allowed"
    assert len(bank.replacement_orders("bob")) == 1


async def test_a_request_id_reused_for_other_arguments_is_refused(bank: DemoBank) -> None:
    await bank.set_card_limit("alice", "card-alice-debit", Decimal(3000), "c-1:3")
    with pytest.raises(CoreBankingError) as caught:
        await bank.set_card_limit("alice", "card-alice-debit", Decimal(4000), "c-1:3")
    assert caught.value.code == "not_allowed"
    cards = {card.id: card for card in await bank.list_cards("alice")}
    assert cards["card-alice-debit"].daily_limit == Decimal(3000)


async def test_replacement_order_ids_follow_the_seed() -> None:
    def make(seed: int) -> DemoBank:
        return DemoBank(clock=lambda: NOW, seed=seed)

    one, two, other = make(1), make(1), make(2)
    a = await one.report_lost_card("bob", "card-bob-debit", "r")
    b = await two.report_lost_card("bob", "card-bob-debit", "r")
    c = await other.report_lost_card("bob", "card-bob-debit", "r")
    assert a.order_id == b.order_id
    assert a.order_id != c.order_id


async def test_freeze_and_unfreeze(bank: DemoBank) -> None:
    frozen = await bank.freeze_card("alice", "card-alice-debit", "r1")
    assert frozen.status == "frozen"
    active = await bank.unfreeze_card("alice", "card-alice-debit", "r2")
    assert active.status == "active"


async def test_a_lost_card_cannot_be_unfrozen_frozen_or_limited(bank: DemoBank) -> None:
    for call in (
        bank.unfreeze_card("chen", "card-chen-old", "r1"),
        bank.freeze_card("chen", "card-chen-old", "r2"),
        bank.set_card_limit("chen", "card-chen-old", Decimal(1000), "r3"),
    ):
        with pytest.raises(CoreBankingError) as caught:
            await call
        assert caught.value.code == "not_allowed"


async def test_limits_outside_the_cards_range_are_refused(bank: DemoBank) -> None:
    with pytest.raises(CoreBankingError) as caught:
        await bank.set_card_limit("alice", "card-alice-debit", Decimal(9000), "r1")
    assert caught.value.code == "limit_out_of_range"
    assert "5,000.00 EUR" in caught.value.message
    # A refused request is not remembered: the same id may be retried once fixed.
    card = await bank.set_card_limit("alice", "card-alice-credit", Decimal(9000), "r2")
    assert card.daily_limit == Decimal(9000)


async def test_an_outage_fails_calls_until_it_ends(bank: DemoBank) -> None:
    bank.simulate_outage("freeze_card")
    with pytest.raises(CoreBankingError) as caught:
        await bank.freeze_card("alice", "card-alice-debit", "r1")
    assert caught.value.code == "unavailable"
    assert await bank.list_cards("alice")  # other operations still work
    bank.end_outage()
    assert (await bank.freeze_card("alice", "card-alice-debit", "r1")).status == "frozen"
    bank.simulate_outage()
    with pytest.raises(CoreBankingError):
        await bank.list_accounts("alice")
