"""The digital human with the real speech engines, through the real server.

The customer's aiortc microphone plays a question in the server's own Piper voice;
Whisper on the server hears it (a `transcript.segment`), the chat bot's brain answers,
the digital human says the answer in Piper's voice, and Whisper, transcribing what the
customer's peer received, gives back the answer's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import pytest

from media.speech.pcm import chunk_from_frame
from media.speech.wer import word_error_rate
from media.testing import LoopbackClient
from tests.conftest import unavailable
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer
from tests.e2e.test_calls import call_the_digital_human

QUESTION = "what are the fees for an international transfer"
# Of the answer, this much of what the customer received is transcribed back.
LISTEN_SECONDS = 5.0


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    running = await server_factory(transcripts=True, calls_first="digital_human")
    speech = running.services.speech
    await speech.wait_ready()
    if speech.stt is None or speech.tts is None or speech.tts.name != "piper":
        unavailable("the speech engines", RuntimeError(str(speech.status())))
    return running


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


async def transcribe(server: RunningServer, frames: list[Any]) -> str:
    stt = server.services.speech.stt
    assert stt is not None
    stream = stt.open_stream("check")
    for frame in frames:
        stream.push(chunk_from_frame(frame))
    stream.close()
    async with asyncio.timeout(30):
        return " ".join([s.text async for s in stream if s.is_final])


async def test_the_customer_asks_aloud_and_hears_the_digital_human_s_answer(
    server: RunningServer, clients: list[Client], peers: list[LoopbackClient]
) -> None:
    tts = server.services.speech.tts
    assert tts is not None
    async with contextlib.aclosing(tts.synthesize(QUESTION)) as audio:
        question = b"".join([chunk.pcm async for chunk in audio])
    alice = await server.client("alice")
    clients.append(alice)
    call = await call_the_digital_human(server, alice, peers, answered_within=10, greeted_within=20)
    cid, microphone, customer = call.cid, call.microphone, call.peer

    microphone.play(question + bytes(2 * 48_000))
    asked = time.monotonic()
    heard = await alice.wait_event(
        cid,
        lambda e: e["type"] == "transcript.segment" and e["data"]["speaker"] == "customer",
        20,
    )
    answer = await alice.wait_event(
        cid,
        lambda e: (
            e["type"] == "transcript.segment"
            and e["data"]["speaker"] == "digital_human"
            and "fee" in e["data"]["text"].lower()
        ),
        20,
    )
    answered = time.monotonic()
    await asyncio.sleep(LISTEN_SECONDS)
    received = customer.frames("audio", answered, answered + LISTEN_SECONDS)
    await customer.pc.close()

    assert word_error_rate([QUESTION], [heard["data"]["text"]]) <= 0.2, heard["data"]["text"]
    said = words(answer["data"]["text"])
    back = words(await transcribe(server, received))
    assert len(back) >= 6, back
    # Whisper's words of what the customer heard are the answer's (tiny.en mishears a
    # few; the answer goes on past the seconds listened to, so its words are a superset).
    overlap = sum(1 for w in back if w in set(said)) / len(back)
    assert overlap >= 0.7, (back, said)
    print(
        f"\nanswer logged {answered - asked:.2f} s after the question began; "
        f"{len(back)} words transcribed from the customer's audio, "
        f"{overlap:.0%} of them the answer's"
    )
