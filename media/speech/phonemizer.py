"""IPA phonemes from one long-running `espeak-ng` process (GPL-3.0: a separate program).

A new espeak-ng process per piece of text costs 10-40 ms before the first phoneme (it
loads its dictionaries), a good part of the Piper voice's time to first audio; a process
kept running answers a line in about a millisecond. espeak-ng answers each input line
with one line, or several when it splits a clause itself, so each line is followed by a
marker word whose phonemes are known: everything before the marker's answer is the
line's.

Blocking, for the voice's own thread. If the process misbehaves (gone, silent for
`timeout`), it is killed, and this and later calls use a new one.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import threading

__all__ = ["EspeakPhonemizer"]

logger = logging.getLogger(__name__)

_MARKER = "zqxj"  # spelled out by espeak-ng: a line no clause is


class EspeakPhonemizer:
    def __init__(self, executable: str = "espeak-ng", voice: str = "en-us", timeout: float = 2.0):
        self._command = [executable, "-q", "--ipa", "-v", voice]
        self._timeout = timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._marker_answer = ""

    def phonemes(self, lines: list[str]) -> list[str]:
        """IPA, one string per line, as Piper voices expect (no ties, no separators)."""
        clean = [" ".join(line.split()) for line in lines]
        with self._lock:
            try:
                return self._ask(clean)
            except (OSError, TimeoutError, UnicodeDecodeError) as error:
                logger.warning("espeak-ng phonemizer restarted: %s", error)
                self._stop()
                return self._ask(clean)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ask(self, lines: list[str]) -> list[str]:
        process = self._running()
        assert process.stdin is not None
        answers = []
        # A line at a time: a large write could fill both pipes and stall both programs.
        for line in lines:
            process.stdin.write(f"{line}\n{_MARKER}\n".encode())
            process.stdin.flush()
            parts = []
            while (answer := self._readline()) != self._marker_answer:
                if answer:
                    parts.append(answer)
            answers.append(" ".join(parts))
        return answers

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._process = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._buffer = b""
        assert self._process.stdin is not None
        self._process.stdin.write(f"{_MARKER}\n".encode())
        self._process.stdin.flush()
        self._marker_answer = self._readline()
        return self._process

    def _readline(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        descriptor = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([descriptor], [], [], self._timeout)
            if not ready:
                raise TimeoutError(f"espeak-ng silent for {self._timeout} s")
            data = os.read(descriptor, 65536)
            if not data:
                raise OSError("espeak-ng exited")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8").strip()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
