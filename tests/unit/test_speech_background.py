"""Speech recognition's threads yield the CPU to the media (`media/speech/background.py`)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from media.speech.background import lower_thread_priority
from media.speech.config import SpeechConfig
from media.speech.priority_worker import PriorityWorker

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="thread priorities are Linux's"
)


def _nice_of_this_thread() -> int:
    stat = Path(f"/proc/self/task/{threading.get_native_id()}/stat").read_text()
    # Field 19 (nice), counting from 1, after the command name in parentheses.
    return int(stat.rsplit(")", 1)[1].split()[16])


def test_only_the_calling_thread_is_lowered() -> None:
    before = _nice_of_this_thread()
    seen: list[int] = []

    def speech_thread() -> None:
        lower_thread_priority(7)
        seen.append(_nice_of_this_thread())

    thread = threading.Thread(target=speech_thread)
    thread.start()
    thread.join()
    assert seen == [min(before + 7, 19)]
    assert _nice_of_this_thread() == before


def test_the_worker_runs_its_jobs_niced_and_zero_leaves_it_alone() -> None:
    base = _nice_of_this_thread()
    niced = PriorityWorker("test-niced", nice=5)
    plain = PriorityWorker("test-plain")
    try:
        assert niced.submit(0, _nice_of_this_thread).result(5) == min(base + 5, 19)
        assert plain.submit(0, _nice_of_this_thread).result(5) == base
    finally:
        niced.shutdown()
        plain.shutdown()


def test_the_setting_comes_from_the_environment_and_is_checked() -> None:
    assert SpeechConfig.from_env({}).stt_nice == 10
    assert SpeechConfig.from_env({"TANDEM_STT_NICE": "0"}).stt_nice == 0
    with pytest.raises(ValueError, match="stt_nice"):
        SpeechConfig.from_env({"TANDEM_STT_NICE": "25"})
