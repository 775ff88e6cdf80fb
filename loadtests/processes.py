"""Stopping a benchmark's child process (a server, the endpoints) and all it spawned."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

__all__ = ["stop_process"]


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to its process group, SIGKILL after 10 s. The child must have been started
    in its own session (`start_new_session=True`: process group == its pid), so nothing it
    spawned outlives it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
