from __future__ import annotations

import asyncio

from media.speech.feed import SegmentFeed
from media.speech.ports import Segment


def final(text: str, n: int) -> Segment:
    return Segment("customer", text, 0.0, 1.0, True, n)


async def test_a_feed_passes_on_only_while_listening() -> None:
    feed = SegmentFeed("customer")
    starts: list[float] = []
    feed.on_speech_start(starts.append)
    feed.deliver(final("heard", 1))
    feed.speech_started(0.04)
    feed.listening = False
    feed.deliver(final("said to the agent", 2))
    feed.speech_started(0.06)
    feed.listening = True
    feed.deliver(final("heard again", 3))
    feed.push(object())  # type: ignore[arg-type]  # audio goes to the transcriber, not here
    feed.close()
    feed.deliver(final("after the end", 4))
    async with asyncio.timeout(1):
        texts = [segment.text async for segment in feed]
    assert texts == ["heard", "heard again"]
    assert starts == [0.04]
