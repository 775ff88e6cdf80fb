"""Speech recognition runs behind the media: its threads at a lower CPU priority.

A call's media is forwarded on the event loop, 50 packets a second per party, and any
delay is heard. Transcription is work that can wait a little: when the machine is short
of CPU, Whisper (which takes every core it is given) and the speech detector must yield
to the loop, not the other way round. Measured on 2 cores, 20 transcribed calls: media
latency p50 2.2 s with the speech threads at the loop's priority, 0.13 s with them niced.

Linux schedules threads one by one, so a thread can lower its own priority
(`setpriority` on its thread id); threads it starts afterwards (CTranslate2's and
onnxruntime's pools) inherit it. Raising it again needs privileges, so there is no way
back: only threads made for speech call this. Elsewhere it does nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

__all__ = ["DEFAULT_NICE", "lower_thread_priority"]

logger = logging.getLogger(__name__)

# CFS weight 110 against the loop's 1024: a busy machine gives speech ~10 % of a core.
DEFAULT_NICE = 10


def lower_thread_priority(nice: int = DEFAULT_NICE) -> None:
    """Make the calling thread `nice` steps less urgent than it is (0: leave it)."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(current + nice, 19))
    except OSError as error:  # a sandbox without the call: speech simply competes
        logger.warning("speech threads keep the media's CPU priority: %s", error)
