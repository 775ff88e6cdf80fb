"""The contract every `SessionStore` must meet. A store's test module subclasses
`StoreContract` and provides a `store` fixture; memory, Redis and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from sessions.errors import ConcurrencyError
from sessions.events import NewEvent
from sessions.store import ConversationQuery, SessionStore

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def started(customer: str, at: datetime = T0) -> list[NewEvent]:
    return [
        NewEvent(
            "conversation.started",
            f"customer:{customer}",
            at,
            {"customer_id": customer, "channel": "chat"},
        ),
        NewEvent("handler.changed", "system", at, {"from": "none", "to": "bot", "reason": "start"}),
    ]


def message(text: str, at: datetime = T0, actor: str = "customer:alice") -> NewEvent:
    return NewEvent("message.sent", actor, at, {"text": text})


class StoreContract:
    async def test_append_assigns_consecutive_seqs_from_one(self, store: SessionStore) -> None:
        first = await store.append("c1", 0, started("alice"))
        second = await store.append("c1", 2, [message("hi"), message("there")])
        assert first.seqs == [1, 2]
        assert second.seqs == [3, 4]
        assert [e.seq for e in await store.read("c1")] == [1, 2, 3, 4]

    async def test_read_after_seq_and_limit(self, store: SessionStore) -> None:
        await store.append("c1", 0, started("alice"))
        await store.append("c1", 2, [message(f"m{i}") for i in range(5)])
        after = await store.read("c1", after_seq=4, limit=2)
        assert [e.seq for e in after] == [5, 6]
        assert [e.data["text"] for e in after] == ["m2", "m3"]
        assert await store.read("c1", after_seq=7) == []
        assert await store.read("nope") == []

    async def test_events_round_trip_exactly(self, store: SessionStore) -> None:
        at = T0 + timedelta(microseconds=123456)
        data = {"text": "Zürich 💳", "suggestions": ["a", "b"], "n": 3, "nested": {"x": None}}
        await store.append("c1", 0, started("alice"))
        await store.append("c1", 2, [NewEvent("message.sent", "bot", at, data)])
        event = (await store.read("c1", 2))[0]
        assert (event.conversation_id, event.seq, event.type, event.actor) == (
            "c1",
            3,
            "message.sent",
            "bot",
        )
        assert event.at == at
        assert dict(event.data) == data

    async def test_stale_expected_seq_is_refused_and_changes_nothing(
        self, store: SessionStore
    ) -> None:
        await store.append("c1", 0, started("alice"))
        with pytest.raises(ConcurrencyError):
            await store.append("c1", 1, [message("late")])
        with pytest.raises(ConcurrencyError):
            await store.append("c2", 3, [message("no log yet")])
        assert [e.seq for e in await store.read("c1")] == [1, 2]
        state = await store.load("c1")
        assert state is not None and state.last_seq == 2

    async def test_concurrent_appends_one_wins(self, store: SessionStore) -> None:
        await store.append("c1", 0, started("alice"))
        results = await asyncio.gather(
            *(store.append("c1", 2, [message(f"racer {i}")]) for i in range(5)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(r, ConcurrencyError) for r in results if r not in winners)
        assert [e.seq for e in await store.read("c1")] == [1, 2, 3]

    async def test_idempotency_key_replays_without_appending(self, store: SessionStore) -> None:
        await store.append("c1", 0, started("alice"))
        first = await store.append("c1", 2, [message("once")], idempotency_key="k1")
        again = await store.append("c1", 3, [message("once")], idempotency_key="k1")
        assert not first.replayed and again.replayed
        assert again.seqs == first.seqs == [3]
        assert [e.data.get("text") for e in await store.read("c1", 2)] == ["once"]
        found = await store.find("k1")
        assert found is not None and found.replayed and found.seqs == [3]
        assert await store.find("k2") is None

    async def test_load_projects_state(self, store: SessionStore) -> None:
        assert await store.load("c1") is None
        await store.append("c1", 0, started("alice"))
        await store.append(
            "c1",
            2,
            [
                NewEvent(
                    "handler.changed",
                    "bot",
                    T0,
                    {
                        "from": "bot",
                        "to": "queue",
                        "reason": "escalation",
                        "context": {"intent": "fraud"},
                    },
                ),
            ],
        )
        state = await store.load("c1")
        assert state is not None
        assert (state.customer_id, state.status, state.handler, state.last_seq) == (
            "alice",
            "open",
            "queue",
            3,
        )
        assert state.channels == frozenset({"chat"})
        assert state.handoff_context["intent"] == "fraud"
        await store.append(
            "c1", 3, [NewEvent("message.read", "customer:alice", T0, {"up_to_seq": 3})]
        )
        state = await store.load("c1")
        assert state is not None
        assert dict(state.read_marks) == {"customer:alice": 3}
        assert state.handoff_context["intent"] == "fraud"  # unchanged by a later event

    async def test_list_conversations_filters_and_orders(self, store: SessionStore) -> None:
        await store.append("a1", 0, started("alice", T0))
        await store.append("b1", 0, started("bob", T0 + timedelta(seconds=1)))
        await store.append("a2", 0, started("alice", T0 + timedelta(seconds=2)))
        await store.append(
            "a1",
            2,
            [
                NewEvent(
                    "handler.changed",
                    "system",
                    T0 + timedelta(seconds=3),
                    {"from": "bot", "to": "none", "reason": "close"},
                ),
                NewEvent(
                    "conversation.closed",
                    "system",
                    T0 + timedelta(seconds=3),
                    {"reason": "resolved"},
                ),
            ],
        )
        alice = await store.list_conversations(ConversationQuery(customer_id="alice"))
        assert [s.id for s in alice] == ["a1", "a2"]  # most recently updated first
        open_alice = await store.list_conversations(
            ConversationQuery(customer_id="alice", status="open")
        )
        assert [s.id for s in open_alice] == ["a2"]
        bots = await store.list_conversations(ConversationQuery(handler="bot"))
        assert {s.id for s in bots} == {"a2", "b1"}
        assert len(await store.list_conversations(ConversationQuery(limit=1))) == 1

    async def test_subscribe_feeds_new_events_in_order(self, store: SessionStore) -> None:
        feed = store.subscribe()
        received: list[tuple[str, int]] = []

        async def consume() -> None:
            async for event in feed:
                received.append((event.conversation_id, event.seq))
                if len(received) == 5:
                    return

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await store.append("c1", 0, started("alice"))
        await store.append("c2", 0, started("bob"))
        await store.append("c1", 2, [message("x")])
        await asyncio.wait_for(consumer, 5)
        await feed.aclose()
        assert [seq for cid, seq in received if cid == "c1"] == [1, 2, 3]
        assert [seq for cid, seq in received if cid == "c2"] == [1, 2]

    async def test_ping(self, store: SessionStore) -> None:
        await store.ping()
