"""A call on PostgreSQL when the conversation's state is read back from the database
(evicted from the node's cache, or another node wrote to the conversation): the call's
part of the state is in the snapshot (migration 0002), so its rules still see it."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, durable_settings, hand_to_agent
from tests.e2e.test_calls import ANNA, CALL_EVENTS, CUSTOMER, Browsers, answer, listen, start_call


async def test_a_call_survives_its_state_being_read_back_from_postgres(
    pg_schema: str,
    server_factory: ServerFactory,
    clients: list[Client],
    tmp_path: Path,
) -> None:
    server = await server_factory(**durable_settings(pg_schema, recordings_dir=tmp_path))
    alice = await server.client("alice")
    anna = await server.client("anna")
    clients += [alice, anna]
    listen(anna, *CALL_EVENTS)
    cid = await hand_to_agent(alice, anna)
    browsers = Browsers()
    try:
        call_id = (await start_call(alice, cid, browsers(CUSTOMER)))["call_id"]
        await anna.wait_for("call.incoming")
        await answer(anna, call_id, browsers(ANNA))
        # As when another node appends to the conversation: the cached state is dropped.
        server.services.store.forget(cid)  # type: ignore[attr-defined]
        state = await server.services.conversations.state(cid)
        assert state is not None and state.call_id == call_id
    finally:
        await browsers.close()
