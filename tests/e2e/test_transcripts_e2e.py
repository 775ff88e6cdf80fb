"""Live call transcripts through the real server, with the real speech engines.

The customer's aiortc microphone plays sentences the server's own Piper voice said;
Whisper on the server transcribes the customer's forwarded audio: the agent sees the
words appear (`transcript.partial`), and each utterance's final segment is logged as a
`transcript.segment` event, with its speaker and timings.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from media.speech.wer import word_error_rate
from media.testing import LoopbackClient, Microphone
from tests.banking_sentences import SENTENCES
from tests.conftest import unavailable
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer, hand_to_agent
from tests.e2e.test_calls import answer, listen, start_call, until


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    running = await server_factory(transcripts=True)
    speech = running.services.speech
    await speech.wait_ready()
    if speech.transcriber is None or speech.tts is None or speech.tts.name != "piper":
        unavailable("the speech engines", RuntimeError(str(speech.status())))
    return running


async def say(server: RunningServer, text: str) -> bytes:
    tts = server.services.speech.tts
    assert tts is not None
    async with contextlib.aclosing(tts.synthesize(text)) as audio:
        return b"".join([chunk.pcm async for chunk in audio])


async def test_the_agent_sees_the_customer_s_words_and_the_log_keeps_the_finals(
    server: RunningServer, clients: list[Client], peers: list[LoopbackClient]
) -> None:
    speech = [await say(server, text) for text in SENTENCES]
    alice, anna = await server.client("alice"), await server.client("anna")
    clients += [alice, anna]
    listen(anna, "call.incoming", "transcript.partial")
    cid = await hand_to_agent(alice, anna)
    microphone, silent = Microphone(), Microphone()
    customer, agent = LoopbackClient(audio=microphone), LoopbackClient(audio=silent)
    peers += [customer, agent]
    call_id = (await start_call(alice, cid, customer))["call_id"]
    await anna.wait_for("call.incoming")
    await answer(anna, call_id, agent)

    async def finals() -> list[dict[str, Any]]:
        history = await server.services.conversations.history(cid)
        return [dict(e.data) for e in history if e.type == "transcript.segment"]

    for n, pcm in enumerate(speech, start=1):
        microphone.play(pcm + bytes(2 * 48_000))  # then a second of silence
        await until(lambda: not microphone.playing, 20)
        for _ in range(100):  # the final comes about half a second after the speech
            if len(await finals()) >= n:
                break
            await asyncio.sleep(0.1)

    logged = await finals()
    assert [f["speaker"] for f in logged] == ["customer"] * len(SENTENCES)
    assert all(f["call_id"] == call_id and 0 <= f["start"] < f["end"] for f in logged)
    wer = word_error_rate(SENTENCES, [f["text"] for f in logged])
    print(f"\nlive transcripts of {len(SENTENCES)} sentences through the server: WER {wer:.3f}")
    assert wer <= 0.2, [f["text"] for f in logged]
    partials = [data for name, data in anna.received if name == "transcript.partial"]
    assert partials, "the agent sees words while the customer speaks"
    assert {p["conversation_id"] for p in partials} == {cid}
    assert all(p["speaker"] == "customer" for p in partials)
