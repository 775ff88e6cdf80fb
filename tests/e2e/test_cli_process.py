"""`python -m gateway` as a real OS process: help, start-up, configuration errors, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import socketio

from tests.e2e.test_cli import ROOT, environment, free_port, run

# The CLI harness is shared with test_cli.py: one way to run and clean the environment.
clean_env = environment
run_cli = run


@contextmanager
def serving(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not become healthy in 10 s")


def test_bad_configuration_stops_with_the_setting_named() -> None:
    bad_port = run_cli("serve", env=clean_env(TANDEM_PORT="abc", TANDEM_DEMO="true"))
    assert bad_port.returncode == 2
    assert "TANDEM_PORT" in bad_port.stderr
    no_secret = run_cli("serve")
    assert no_secret.returncode == 2
    assert "jwt_secret" in no_secret.stderr and "--demo" in no_secret.stderr
    short = run_cli("check-config", env=clean_env(TANDEM_JWT_SECRET="short"))
    assert short.returncode == 2 and "32 characters" in short.stderr
    missing = run_cli("serve", "--config", "/nonexistent/tandem.toml")
    assert missing.returncode == 2 and "not found" in missing.stderr
    good = run_cli("check-config", env=clean_env(TANDEM_JWT_SECRET="k" * 40))
    assert good.returncode == 0 and "valid" in good.stdout


def test_toml_file_with_environment_on_top(tmp_path: Path) -> None:
    config = tmp_path / "tandem.toml"
    config.write_text("demo = true\nport = 9123\nagent_capacity = 2\nunknown_key = 1\n")
    unknown = run_cli("check-config", env=clean_env(TANDEM_CONFIG=str(config)))
    assert unknown.returncode == 2 and "unknown_key" in unknown.stderr.lower()
    config.write_text("demo = true\nport = 9123\nagent_capacity = 2\n")
    ok = run_cli("check-config", env=clean_env(TANDEM_CONFIG=str(config)))
    assert ok.returncode == 0, ok.stderr
    override = run_cli(
        "check-config", env=clean_env(TANDEM_CONFIG=str(config), TANDEM_AGENT_CAPACITY="0")
    )
    assert override.returncode == 2 and "TANDEM_AGENT_CAPACITY" in override.stderr


@asynccontextmanager
async def customer(url: str) -> AsyncIterator[tuple[socketio.AsyncClient, list[object]]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/demo/login", json={"username": "alice"}) as r,
    ):
        token = (await r.json())["token"]
    sio = socketio.AsyncClient(reconnection=False)
    told: list[object] = []
    sio.on("server.shutdown", lambda data: told.append(data), namespace="/customer")
    await sio.connect(
        url,
        namespaces=["/customer"],
        transports=["websocket"],
        auth={"token": token},
        wait_timeout=5,
    )
    try:
        yield sio, told
    finally:
        await sio.disconnect()


async def test_serve_demo_then_sigterm_says_goodbye_and_exits_0(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "tandem.toml"
    config.write_text(f'port = {port + 1}\nlog_level = "INFO"\n')
    # The file says port+1; the command line wins.
    env = clean_env(TANDEM_CONFIG=str(config))
    with serving("--demo", "--port", str(port), env=env) as process:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, process)
        async with customer(url) as (sio, told):
            ack = await sio.call(
                "conversation.start", {"key": "k"}, namespace="/customer", timeout=5
            )
            assert ack["ok"]
            process.send_signal(signal.SIGTERM)
            for _ in range(100):
                if told:
                    break
                await asyncio.sleep(0.05)
            assert told == [{"reconnect": True}]
        code = await asyncio.to_thread(process.wait, 10)
        output = process.stdout.read() if process.stdout else ""
    assert code == 0, output
    assert f"{url}/customer?user=alice" in output
    assert "shutting down" in output and "stopped" in output


def test_migrate_command(pg_schema: str) -> None:
    from tests.conftest import DATABASE_URL

    env = clean_env(
        TANDEM_DATABASE_URL=DATABASE_URL,
        TANDEM_DATABASE_SCHEMA=pg_schema,
        TANDEM_JWT_SECRET="m" * 40,
    )
    not_yet = run_cli("check-config", env=env)
    assert not_yet.returncode == 0 and "PostgreSQL" in not_yet.stdout
    assert "postgres@" in not_yet.stdout or "127.0.0.1" in not_yet.stdout
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    second = run_cli("migrate", env=env)
    assert second.returncode == 0 and "applied" not in second.stdout
    no_db = run_cli("migrate", env=clean_env(TANDEM_JWT_SECRET="m" * 40))
    assert no_db.returncode == 2 and "TANDEM_DATABASE_URL" in no_db.stderr


def test_serve_refuses_an_unmigrated_database_clearly(pg_schema: str) -> None:
    from tests.conftest import DATABASE_URL

    env = clean_env(
        TANDEM_DATABASE_URL=DATABASE_URL,
        TANDEM_DATABASE_SCHEMA=pg_schema,
        TANDEM_JWT_SECRET="m" * 40,
        TANDEM_PORT=str(free_port()),
    )
    result = run_cli("serve", env=env)
    assert result.returncode == 1
    assert "python -m gateway migrate" in result.stderr
    assert "Traceback" not in result.stderr
    unreachable = run_cli(
        "serve", env={**env, "TANDEM_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"}
    )
    assert unreachable.returncode == 1
    assert "cannot reach the store" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


async def test_sigterm_closes_sockets_a_client_leaves_open() -> None:
    """A client that ignores `server.shutdown` (browsers do, over websocket) must not hold
    the process: the server closes the websocket itself."""
    import time

    port = free_port()
    with serving("--demo", "--port", str(port), env=clean_env()) as process:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, process)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket") as ws,
        ):
            await ws.receive(timeout=5)  # engine.io open packet
            await ws.send_str("40/customer,")  # socket.io connect without a token
            began = time.monotonic()
            process.send_signal(signal.SIGTERM)
            while not ws.closed and time.monotonic() - began < 5:
                message = await ws.receive(timeout=5)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
            code = await asyncio.to_thread(process.wait, 10)
            elapsed = time.monotonic() - began
    assert code == 0
    assert elapsed < 4, f"shutdown took {elapsed:.1f} s with a socket left open"
