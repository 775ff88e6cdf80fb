"""The real CLI, `python -m gateway`, as OS processes: help, serve, signals, configuration."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
SECRET = "s" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without any TANDEM_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env=env if env is not None else environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def run_all(
    *runs: tuple[tuple[str, ...], dict[str, str] | None],
) -> list[subprocess.CompletedProcess[str]]:
    """Several short CLI runs at once (each is a fresh interpreter: ~0.5 s)."""
    return list(
        await asyncio.gather(*(asyncio.to_thread(run, *args, env=env) for args, env in runs))
    )


class Served:
    """A `python -m gateway serve` process and everything it printed so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.output.append(line.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.output)

    async def wait_output(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        async def search() -> re.Match[str]:
            while True:
                if match := re.search(pattern, self.text):
                    return match
                if self._reader.done():
                    raise AssertionError(f"exited before printing {pattern!r}:\n{self.text}")
                await asyncio.sleep(0.05)

        try:
            return await asyncio.wait_for(search(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.text}") from None

    async def exit_code(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"still running after {timeout}s:\n{self.text}") from None
        await asyncio.wait_for(self._reader, timeout)
        return code


@contextlib.asynccontextmanager
async def serving(*args: str, env: dict[str, str]) -> AsyncIterator[Served]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "serve",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    served = Served(process)
    try:
        yield served
    finally:
        if process.returncode is None:
            process.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 10)
        served._reader.cancel()
        with contextlib.suppress(BaseException):
            await served._reader


async def healthy(url: str, timeout: float = START_TIMEOUT) -> dict[str, Any]:
    """GET /healthz until it answers 200 (or fail after `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return dict(await r.json())
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"{url}/healthz did not answer within {timeout}s")
            await asyncio.sleep(0.1)


# -- no server ---------------------------------------------------------------------------


async def test_help_exits_0_and_explains_serve_and_settings() -> None:
    done, serve_help, bare = await run_all(
        (("--help",), None), (("serve", "--help"), None), ((), None)
    )
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout
    assert "TANDEM_" in done.stdout
    assert "check-config" in done.stdout
    assert serve_help.returncode == 0, serve_help.stderr
    for option in ("--demo", "--port", "--config", "--host"):
        assert option in serve_help.stdout
    assert "TANDEM_" in serve_help.stdout
    # No command at all: the help, and a usage error's exit code.
    assert bare.returncode == 2
    assert "serve" in bare.stdout + bare.stderr


async def test_bad_setting_exits_2_naming_it() -> None:
    bad = [
        ("TANDEM_PORT", "abc"),
        ("TANDEM_PORT", "70000"),
        ("TANDEM_AGENT_CAPACITY", "0"),
        ("TANDEM_LOG_LEVEL", "LOUD"),
        ("TANDEM_OFFER_TIMEOUT_SECONDS", "-1"),
    ]
    results = await run_all(
        *((("serve", "--demo"), environment(**{name: value})) for name, value in bad),
        (("serve", "--port", "notaport"), None),
    )
    for (name, value), done in zip(bad, results, strict=False):
        assert done.returncode == 2, (name, value, done.stdout, done.stderr)
        assert name in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr
    unknown = results[-1]
    assert unknown.returncode == 2
    assert "--port" in unknown.stderr


async def test_no_secret_and_no_demo_exits_2_naming_jwt_secret() -> None:
    done, short = await run_all(
        (("serve",), None), (("serve",), environment(TANDEM_JWT_SECRET="too-short"))
    )
    assert done.returncode == 2
    assert "jwt_secret" in done.stderr.lower()
    assert "TANDEM_JWT_SECRET" in done.stderr and "--demo" in done.stderr
    assert "Traceback" not in done.stderr
    assert short.returncode == 2
    assert "jwt_secret" in short.stderr.lower() and "32" in short.stderr


async def test_check_config(tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text(f'jwt_secret = "{SECRET}"\nagent_capacity = 500\n')
    good_file = tmp_path / "good.toml"
    good_file.write_text(f'jwt_secret = "{SECRET}"\nagent_capacity = 5\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1\n")
    done, demo, bad, missing, from_file, good, unreadable = await run_all(
        (("check-config",), environment(TANDEM_JWT_SECRET=SECRET)),
        (("check-config",), environment(TANDEM_DEMO="true")),
        (("check-config",), environment(TANDEM_JWT_SECRET=SECRET, TANDEM_WRAP_UP_SECONDS="soon")),
        (("check-config",), environment(TANDEM_CONFIG=str(tmp_path / "nope.toml"))),
        (("check-config",), environment(TANDEM_CONFIG=str(bad_file))),
        (("check-config",), environment(TANDEM_CONFIG=str(good_file))),
        (("check-config",), environment(TANDEM_CONFIG=str(broken))),
    )
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout
    assert demo.returncode == 0, demo.stderr
    assert bad.returncode == 2
    assert "TANDEM_WRAP_UP_SECONDS" in bad.stderr
    assert missing.returncode == 2
    assert "TANDEM_CONFIG" in missing.stderr and "nope.toml" in missing.stderr
    # A file via TANDEM_CONFIG is read: its bad value is reported by name.
    assert from_file.returncode == 2
    assert "agent_capacity" in from_file.stderr.lower()
    assert good.returncode == 0, good.stderr
    assert unreadable.returncode == 2
    assert "Traceback" not in unreadable.stderr
    # The operator is told which file to fix.
    assert "broken.toml" in unreadable.stderr, unreadable.stderr


# -- serving -----------------------------------------------------------------------------


async def test_serve_demo_prints_hints_answers_and_stops_on_sigterm() -> None:
    port = free_port()
    async with serving("--demo", "--port", str(port), env=environment()) as served:
        match = await served.wait_output(r"(http://127\.0\.0\.1:\d+)/customer\?user=alice")
        url = match.group(1)
        assert url == f"http://127.0.0.1:{port}"
        assert f"{url}/agent?user=anna" in served.text
        assert f"{url}/supervisor?user=sara" in served.text
        assert await healthy(url) == {"status": "ok"}

        # A connected customer is told to reconnect before its socket is closed.
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/api/v1/demo/login", json={"username": "alice"}) as r,
        ):
            assert r.status == 200
            token = (await r.json())["token"]
        sio = socketio.AsyncClient(reconnection=False)
        seen: list[tuple[str, Any]] = []
        gone = asyncio.Event()

        def on_shutdown(data: Any = None) -> None:
            seen.append(("server.shutdown", data))

        def on_disconnect(reason: Any = None) -> None:
            seen.append(("disconnect", reason))
            gone.set()

        sio.on("server.shutdown", on_shutdown, namespace="/customer")
        sio.on("disconnect", on_disconnect, namespace="/customer")
        await sio.connect(
            url,
            namespaces=["/customer"],
            transports=["websocket"],
            auth={"token": token},
            wait_timeout=5,
        )
        try:
            ack = await sio.call(
                "conversation.start", {"key": "k1"}, namespace="/customer", timeout=5
            )
            assert ack["ok"], ack

            loop = asyncio.get_running_loop()
            stopping = loop.time()
            served.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(gone.wait(), STOP_TIMEOUT)
            # Like the JavaScript client after "io server disconnect": close the transport.
            # (A client that keeps its websocket open holds the server's exit for up to
            # TANDEM_SHUTDOWN_GRACE_SECONDS.)
            await sio.disconnect()
            assert await served.exit_code() == 0, served.text
            assert loop.time() - stopping < 3.0, served.text
        finally:
            await sio.disconnect()
        names = [name for name, _ in seen]
        assert names[:2] == ["server.shutdown", "disconnect"], seen
        assert seen[0][1] == {"reconnect": True}
        assert "Traceback" not in served.text, served.text


async def test_toml_config_sets_the_port_and_environment_overrides_it(tmp_path: Path) -> None:
    file_port, env_port, arg_port = free_port(), free_port(), free_port()
    config = tmp_path / "tandem.toml"
    config.write_text(f'demo = true\nport = {file_port}\nlog_level = "WARNING"\n')

    # The file's port.
    async with serving("--config", str(config), env=environment()) as served:
        await served.wait_output(rf"http://127\.0\.0\.1:{file_port}/customer\?user=alice")
        await healthy(f"http://127.0.0.1:{file_port}")
        served.process.send_signal(signal.SIGINT)
        assert await served.exit_code() == 0, served.text

    # TANDEM_PORT wins over the file, and --port wins over both.
    env = environment(TANDEM_PORT=str(env_port))
    async with serving("--config", str(config), env=env) as served:
        await served.wait_output(rf"http://127\.0\.0\.1:{env_port}/customer\?user=alice")
        await healthy(f"http://127.0.0.1:{env_port}")
        served.process.send_signal(signal.SIGTERM)
        assert await served.exit_code() == 0, served.text
    env = environment(TANDEM_PORT=str(env_port), TANDEM_CONFIG=str(config))
    async with serving("--port", str(arg_port), env=env) as served:
        await served.wait_output(rf"http://127\.0\.0\.1:{arg_port}/customer\?user=alice")
        served.process.send_signal(signal.SIGTERM)
        assert await served.exit_code() == 0, served.text

    missing = run("serve", "--config", str(tmp_path / "absent.toml"))
    assert missing.returncode == 2
    assert "absent.toml" in missing.stderr
