"""The `espeak-ng` program (GPL-3.0) as a voice: a separate process, never a library."""

from __future__ import annotations

import asyncio
import shutil
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["EspeakError", "EspeakProgram", "Wav", "parse_wav"]


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Wav:
    samples: npt.NDArray[np.int16]
    sample_rate: int


@dataclass(frozen=True, slots=True)
class EspeakProgram:
    executable: str = "espeak-ng"
    voice: str = "en-us"

    def available(self) -> bool:
        return shutil.which(self.executable) is not None

    async def speak(self, text: str, *, words_per_minute: int = 165) -> Wav:
        output = await self._run(
            ["--stdout", "--stdin", "-v", self.voice, "-s", str(words_per_minute)],
            " ".join(text.split()),
        )
        return parse_wav(output)

    async def _run(self, arguments: list[str], text: str) -> bytes:
        process = await asyncio.create_subprocess_exec(
            self.executable,
            *arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            output, errors = await process.communicate(text.encode("utf-8"))
        finally:
            if process.returncode is None:  # cancelled: do not leave it running
                process.kill()
                await process.wait()
        if process.returncode != 0:
            raise EspeakError(
                f"espeak-ng exited with {process.returncode}: {errors.decode()[:200]}"
            )
        return output


def parse_wav(data: bytes) -> Wav:
    """16-bit PCM WAV. The data chunk's size is ignored: written to a pipe, it is unknown."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise EspeakError("not a WAV file")
    position = 12
    rate = channels = bits = 0
    while position + 8 <= len(data):
        chunk_id = data[position : position + 4]
        size = struct.unpack_from("<I", data, position + 4)[0]
        body = position + 8
        if chunk_id == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
        elif chunk_id == b"data":
            if bits != 16 or channels < 1:
                raise EspeakError(f"unsupported WAV: {bits} bits, {channels} channels")
            pcm = data[body : len(data) - (len(data) - body) % (2 * channels)]
            samples = np.frombuffer(pcm, np.int16).reshape(-1, channels)[:, 0].copy()
            return Wav(samples, rate)
        position = body + size + size % 2
    raise EspeakError("WAV without a data chunk")
