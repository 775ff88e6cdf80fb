"""From rendered pieces of speech to a stream of 48 kHz 20 ms chunks, one piece ahead."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from media.speech.pcm import ChunkCutter, Resampler
from media.speech.ports import SAMPLE_RATE, AudioChunk

__all__ = ["Rendered", "stream_pieces"]

Piece = TypeVar("Piece")
# One piece's mono audio: int16 or float32 in [-1, 1] samples, and their rate.
Rendered = tuple[npt.NDArray[np.int16] | npt.NDArray[np.float32], int]


async def stream_pieces(
    pieces: Sequence[Piece], render: Callable[[Piece], Awaitable[Rendered]]
) -> AsyncGenerator[AudioChunk, None]:
    """Render the pieces in order, the next one while this one is being played.

    The consumer plays in real time while rendering is faster, so without this look-ahead
    every piece after the first would start late. Closing the generator (or cancelling
    its consumer) stops the rendering.
    """
    ready: asyncio.Queue[Rendered | None] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        for piece in pieces:
            await ready.put(await render(piece))
        await ready.put(None)

    producer = asyncio.get_running_loop().create_task(produce())
    cutter = ChunkCutter()
    resampler: Resampler | None = None
    try:
        while True:
            getter = asyncio.ensure_future(ready.get())
            await asyncio.wait({getter, producer}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                producer.result()  # the renderer's error, if it failed
                continue
            rendered = getter.result()
            if rendered is None:
                break
            samples, rate = rendered
            if resampler is None:
                resampler = Resampler(rate, SAMPLE_RATE, "s16")
            for chunk in cutter.cut(resampler.convert(samples)):
                yield chunk
        tail = resampler.flush() if resampler is not None else np.zeros(0, np.int16)
        for chunk in [*cutter.cut(tail), *cutter.flush()]:
            yield chunk
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
