"""A call on PostgreSQL when the conversation's state is read back from the database.

Known gap: the call's part of the state (`ConversationState.call`) is folded from the
log, but PostgreSQL's state snapshot (the `conversations` row, and the Redis state
cache) does not hold it yet. While the node's own cache has the state, calls work; once
the state is read back (evicted, or another node wrote to the conversation) the call's
rules see no call. Fixing it needs a migration (a `call jsonb` column) and the store's
and the Redis cache's encoding of it; this test then passes and loses its marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, durable_settings, hand_to_agent
from tests.e2e.test_calls import ANNA, CALL_EVENTS, CUSTOMER, Browsers, answer, listen, start_call


@pytest.mark.xfail(strict=True, reason="the call sub-state is not in PostgreSQL's snapshot yet")
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
