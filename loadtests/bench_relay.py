"""Relay benchmark: Tandem's chat path against a bare python-socketio relay.

One run starts, one after the other and each as its own OS process on a free loopback port,
the bare relay (`loadtests/bare_relay.py`) and Tandem (`python -m gateway serve --demo`),
and drives both with the same client code:

* N pairs of customer + agent python-socketio AsyncClients (websocket transport only);
* set-up, not timed: for Tandem the real flow (demo login, conversation.start,
  agent.request; agent demo login, presence.set ready, `offer`, offer.accept); for the bare
  relay conversation.start and conversation.join;
* warm-up, not timed: a few round trips per pair;
* timed phase, all pairs at once: M round trips per pair, each one customer message.send ->
  the agent receives the `event` -> agent message.send -> the customer receives the `event`.

Measured: one-way relay latency (from just before the sender emits to the moment the other
side's `event` handler runs), ack latency, messages/s over the timed phase, and the CPU
each server process used. Prints a table and writes `loadtests/results/bench_relay.json`.

    .venv/bin/python loadtests/bench_relay.py            # 20 pairs x 200 round trips
    .venv/bin/python loadtests/bench_relay.py --quick    # smoke run
    .venv/bin/python loadtests/bench_relay.py --pairs 50 --round-trips 400

The servers it started are stopped (SIGTERM, then SIGKILL) on success, error and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import socketio
from processes import stop_process

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"

# The goal the project states; this script only reports against it.
GOAL_THROUGHPUT_RATIO = 0.8
GOAL_P99_EXTRA_MS = 2.0

MAX_PAIRS = 500
OTHER_CPU_WARN_PERCENT = 25.0
MAX_TOTAL_ROUND_TRIPS = 200_000

T = TypeVar("T")


class BenchError(Exception):
    """The benchmark could not run as intended; the message says why."""


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Config:
    pairs: int
    round_trips: int
    rounds: int
    warmup: int
    message_timeout: float
    setup_timeout: float
    phase_timeout: float
    ready_timeout: float
    text_chars: int
    agent_capacity: int
    tandem_env: dict[str, str]
    verbose: bool
    # Seconds between one pair's round trips; 0 sends the next as soon as the last
    # arrived (a closed loop: throughput at saturation). Paced, the offered load is fixed,
    # and latency is measured under load rather than at overload.
    interval: float = 0.0

    @property
    def messages(self) -> int:
        return 2 * self.pairs * self.round_trips * self.rounds


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: Any = None

    def cpu_seconds(self) -> float | None:
        """utime + stime of the server process (Linux /proc), None if unknown."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def start_server(name: str, cmd: list[str], port: int, env: dict[str, str]) -> Server:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS_DIR / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in stop_server
    full_env = {**os.environ, **env}
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us, not it: we stop it ourselves
    )
    return Server(name=name, url=f"http://127.0.0.1:{port}", proc=proc, log_path=log_path, _log=log)


def wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise BenchError(
                f"{server.name} exited with code {server.proc.returncode} before it was ready; "
                f"last log lines:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1.0) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            last_error = str(error)
        time.sleep(0.1)
    raise BenchError(
        f"{server.name} not ready at {server.url}/healthz within {timeout:.0f}s ({last_error}); "
        f"last log lines:\n{server.log_tail()}"
    )


def stop_server(server: Server) -> None:
    if server.proc is not None:
        stop_process(server.proc)
    if server._log is not None:
        server._log.close()
        server._log = None


# --------------------------------------------------------------------------- client


async def bounded(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise BenchError(f"timed out after {seconds:.1f}s: {what}") from None


class Endpoint:
    """One socket.io client on one namespace, with a waiting room for expected messages."""

    def __init__(self, namespace: str, label: str) -> None:
        self.namespace = namespace
        self.label = label
        self.sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        # text of an expected message.sent -> future resolved with perf_counter() at receipt
        self.expect: dict[str, asyncio.Future[float]] = {}
        self.offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.events_seen = 0
        self.sio.on("event", self._on_event, namespace=namespace)
        self.sio.on("offer", self._on_offer, namespace=namespace)

    def _on_event(self, event: Any) -> None:
        now = time.perf_counter()
        self.events_seen += 1
        if not isinstance(event, dict) or event.get("type") != "message.sent":
            return
        data = event.get("data")
        text = data.get("text") if isinstance(data, dict) else None
        future = self.expect.pop(text, None) if isinstance(text, str) else None
        if future is not None and not future.done():
            future.set_result(now)

    def _on_offer(self, offer: Any) -> None:
        if isinstance(offer, dict):
            self.offers.put_nowait(offer)

    async def connect(self, url: str, token: str | None, seconds: float) -> None:
        await bounded(
            self.sio.connect(
                url,
                namespaces=[self.namespace],
                auth={"token": token} if token else None,
                transports=["websocket"],
                wait_timeout=seconds,
            ),
            seconds + 1,
            f"{self.label} connect to {self.namespace}",
        )

    async def call(self, event: str, data: dict[str, Any], seconds: float) -> dict[str, Any]:
        try:
            ack = await self.sio.call(event, data, namespace=self.namespace, timeout=seconds)
        except socketio.exceptions.TimeoutError:
            raise BenchError(f"{self.label}: no ack for {event} within {seconds:.1f}s") from None
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise BenchError(f"{self.label}: {event} {data!r} failed: {ack!r}")
        return ack

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 5)


@dataclass
class Pair:
    index: int
    customer: Endpoint
    agent: Endpoint
    conversation_id: str


@dataclass
class PairStats:
    one_way: list[float] = field(default_factory=list)  # seconds
    ack: list[float] = field(default_factory=list)  # seconds


def _filler(n: int) -> str:
    base = "Hello, I would like to know why my card payment was declined yesterday. "
    return (base * (n // len(base) + 1))[:n]


async def one_way(
    sender: Endpoint,
    receiver: Endpoint,
    conversation_id: str,
    text: str,
    key: str,
    seconds: float,
) -> tuple[float, float]:
    """sender message.send -> receiver's `event`; returns (one-way latency, ack latency)."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[float] = loop.create_future()
    acked: asyncio.Future[tuple[float, Any]] = loop.create_future()
    receiver.expect[text] = received

    def on_ack(*args: Any) -> None:
        if not acked.done():
            acked.set_result((time.perf_counter(), args[0] if args else None))

    t0 = time.perf_counter()
    try:
        await sender.sio.emit(
            "message.send",
            {"key": key, "conversation_id": conversation_id, "text": text},
            namespace=sender.namespace,
            callback=on_ack,
        )
    except socketio.exceptions.SocketIOError as error:
        receiver.expect.pop(text, None)
        raise BenchError(f"{sender.label}: cannot send: {error!r}") from None
    try:
        t_ack, ack = await bounded(acked, seconds, f"ack of message.send from {sender.label}")
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise BenchError(f"{sender.label}: message.send failed: {ack!r}")
        t_recv = await bounded(received, seconds, f"{receiver.label} receiving {text[:24]!r}")
    finally:
        receiver.expect.pop(text, None)
    return t_recv - t0, t_ack - t0


async def run_pair(
    pair: Pair, run_id: str, phase: str, count: int, cfg: Config, go: asyncio.Event
) -> PairStats:
    stats = PairStats()
    filler = _filler(cfg.text_chars)
    await go.wait()
    loop = asyncio.get_running_loop()
    # Pairs start spread over one interval, so a paced load is even, not bursts.
    start = loop.time() + cfg.interval * pair.index / max(cfg.pairs, 1)
    for i in range(count):
        if cfg.interval:
            await asyncio.sleep(max(0.0, start + i * cfg.interval - loop.time()))
        for direction, sender, receiver in (
            ("c", pair.customer, pair.agent),
            ("a", pair.agent, pair.customer),
        ):
            tag = f"{run_id}:{phase}:{pair.index}:{i}:{direction}"
            text = f"[{tag}] {filler}"
            lat, ack = await one_way(
                sender, receiver, pair.conversation_id, text, tag, cfg.message_timeout
            )
            stats.one_way.append(lat)
            stats.ack.append(ack)
    return stats


# --------------------------------------------------------------------------- set-up


async def setup_bare(url: str, cfg: Config, run_id: str) -> list[Pair]:
    pairs: list[Pair] = []
    try:
        for i in range(cfg.pairs):
            customer = Endpoint("/customer", f"customer#{i}")
            agent = Endpoint("/agent", f"agent#{i}")
            pairs.append(Pair(i, customer, agent, ""))
            await customer.connect(url, None, cfg.setup_timeout)
            ack = await customer.call(
                "conversation.start", {"key": f"{run_id}:start:{i}"}, cfg.setup_timeout
            )
            pairs[-1].conversation_id = ack["conversation_id"]
            await agent.connect(url, None, cfg.setup_timeout)
            await agent.call(
                "conversation.join", {"conversation_id": ack["conversation_id"]}, cfg.setup_timeout
            )
    except BaseException:
        await close_pairs(pairs)
        raise
    return pairs


async def demo_login(http: aiohttp.ClientSession, url: str, username: str, seconds: float) -> str:
    try:
        async with http.post(
            f"{url}/api/v1/demo/login",
            json={"username": username},
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as response:
            body = await response.text()
            if response.status != 200:
                raise BenchError(f"demo login {username!r}: HTTP {response.status} {body[:300]}")
            token = json.loads(body).get("token")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise BenchError(f"demo login {username!r}: {error!r}") from None
    if not isinstance(token, str):
        raise BenchError(f"demo login {username!r}: no token in answer")
    return token


async def setup_tandem(url: str, cfg: Config, run_id: str, notes: list[str]) -> list[Pair]:
    """The real flow, one pair after the other so the offer goes to the pair's agent."""
    pairs: list[Pair] = []
    agents: list[Endpoint] = []
    short = run_id[:8]
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(cfg.pairs):
                agent = Endpoint("/agent", f"agent#{i}")
                agents.append(agent)
                token = await demo_login(http, url, f"agent-bench-{short}-{i}", cfg.setup_timeout)
                await agent.connect(url, token, cfg.setup_timeout)
                await agent.call("presence.set", {"status": "ready"}, cfg.setup_timeout)

                customer = Endpoint("/customer", f"customer#{i}")
                token = await demo_login(
                    http, url, f"customer-bench-{short}-{i}", cfg.setup_timeout
                )
                await customer.connect(url, token, cfg.setup_timeout)
                pair = Pair(i, customer, agent, "")
                pairs.append(pair)
                ack = await customer.call(
                    "conversation.start", {"key": f"{run_id}:start:{i}"}, cfg.setup_timeout
                )
                conversation_id = ack["conversation_id"]
                pair.conversation_id = conversation_id
                await customer.call(
                    "agent.request",
                    {"key": f"{run_id}:request:{i}", "conversation_id": conversation_id},
                    cfg.setup_timeout,
                )
                accepted_by = await accept_offer_for(agents, conversation_id, run_id, cfg)
                if accepted_by is not agent:
                    notes.append(
                        f"pair {i}: the offer for {conversation_id} went to {accepted_by.label}, "
                        f"not to the pair's own fresh agent"
                    )
                    pair.agent = accepted_by
    except BaseException:
        await close_endpoints([p.customer for p in pairs] + agents)
        raise
    # Agents that ended up without a pair (only if routing surprised us) are not needed.
    paired = {id(p.agent) for p in pairs}
    await close_endpoints([a for a in agents if id(a) not in paired])
    return pairs


async def accept_offer_for(
    agents: list[Endpoint], conversation_id: str, run_id: str, cfg: Config
) -> Endpoint:
    deadline = time.monotonic() + cfg.setup_timeout
    while time.monotonic() < deadline:
        for agent in agents:
            while not agent.offers.empty():
                offer = agent.offers.get_nowait()
                if offer.get("conversation_id") != conversation_id:
                    continue
                offer_id = offer.get("offer_id")
                ack = await agent.call(
                    "offer.accept",
                    {"key": f"{run_id}:accept:{offer_id}", "offer_id": offer_id},
                    cfg.setup_timeout,
                )
                if ack.get("conversation_id") not in (None, conversation_id):
                    raise BenchError(f"offer.accept answered for another conversation: {ack!r}")
                return agent
        await asyncio.sleep(0.01)
    raise BenchError(
        f"no offer for {conversation_id} reached any bench agent within {cfg.setup_timeout:.0f}s"
    )


async def close_endpoints(endpoints: list[Endpoint]) -> None:
    await asyncio.gather(*(e.close() for e in endpoints), return_exceptions=True)


async def close_pairs(pairs: list[Pair]) -> None:
    await close_endpoints([p.customer for p in pairs] + [p.agent for p in pairs])


# --------------------------------------------------------------------------- drive


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def summarize_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    ms = 1000.0
    return {
        "p50": percentile(ordered, 50) * ms,
        "p90": percentile(ordered, 90) * ms,
        "p99": percentile(ordered, 99) * ms,
        "max": (ordered[-1] if ordered else float("nan")) * ms,
        "mean": (sum(ordered) / len(ordered) if ordered else float("nan")) * ms,
    }


# The local backing services a durable Tandem talks to, by process name: their CPU is
# part of what a durable message costs the machine.
SERVICE_PROCESSES = frozenset({"postgres", "redis-server"})


def services_cpu_seconds() -> float | None:
    """utime + stime of every local PostgreSQL and Redis process (Linux /proc), None if
    unknown. Processes that come and go within a round (a PostgreSQL backend) are missed."""
    total, ticks, found = 0, os.sysconf("SC_CLK_TCK"), False
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for pid in entries:
        try:
            head, tail = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        if head.partition("(")[2] in SERVICE_PROCESSES:
            fields = tail.split()
            total += int(fields[11]) + int(fields[12])
            found = True
    return total / ticks if found else None


def machine_busy_seconds() -> float | None:
    """CPU time the whole machine spent busy (all cores, Linux /proc/stat), None if unknown."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def timed_round(
    server: Server, pairs: list[Pair], run_id: str, phase: str, cfg: Config
) -> dict[str, Any]:
    """Every pair at once, `cfg.round_trips` round trips each; figures for this round."""
    go = asyncio.Event()
    tasks = [
        asyncio.ensure_future(run_pair(p, run_id, phase, cfg.round_trips, cfg, go)) for p in pairs
    ]
    await asyncio.sleep(0)  # let every pair reach go.wait()
    cpu_server_0 = server.cpu_seconds()
    cpu_client_0 = time.process_time()
    services_0 = services_cpu_seconds()
    busy_0 = machine_busy_seconds()
    t0 = time.perf_counter()
    go.set()
    try:
        stats = await bounded(
            asyncio.gather(*tasks), cfg.phase_timeout, f"{server.name} timed phase {phase}"
        )
    finally:
        for task in tasks:
            task.cancel()
    elapsed = time.perf_counter() - t0
    cpu_client = time.process_time() - cpu_client_0
    cpu_server_1 = server.cpu_seconds()
    services_1 = services_cpu_seconds()
    busy_1 = machine_busy_seconds()

    one_way_all = [v for s in stats for v in s.one_way]
    ack_all = [v for s in stats for v in s.ack]
    messages = len(one_way_all)
    server_cpu = (
        cpu_server_1 - cpu_server_0
        if cpu_server_0 is not None and cpu_server_1 is not None
        else None
    )
    services_cpu = (
        services_1 - services_0 if services_0 is not None and services_1 is not None else None
    )
    other = None
    if busy_0 is not None and busy_1 is not None and server_cpu is not None:
        other = max(0.0, (busy_1 - busy_0) - server_cpu - cpu_client - (services_cpu or 0.0))

    def pct(seconds: float | None) -> float | None:
        return None if seconds is None else 100.0 * seconds / elapsed

    return {
        "messages": messages,
        "elapsed_seconds": elapsed,
        "messages_per_second": messages / elapsed,
        "one_way_ms": summarize_ms(one_way_all),
        "ack_ms": summarize_ms(ack_all),
        "server_cpu_percent": pct(server_cpu),
        "server_cpu_us_per_message": None if server_cpu is None else 1e6 * server_cpu / messages,
        "client_cpu_percent": pct(cpu_client),
        "services_cpu_percent": pct(services_cpu),
        "services_cpu_us_per_message": (
            None if services_cpu is None else 1e6 * services_cpu / messages
        ),
        "other_cpu_percent": pct(other),
        "_one_way": one_way_all,
        "_ack": ack_all,
    }


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


async def drive(
    server: Server,
    cfg: Config,
    setup: Callable[[], Awaitable[list[Pair]]],
) -> dict[str, Any]:
    t_setup = time.perf_counter()
    pairs = await bounded(setup(), cfg.setup_timeout * (cfg.pairs + 2), f"{server.name} set-up")
    setup_seconds = time.perf_counter() - t_setup
    run_id = uuid.uuid4().hex
    rounds: list[dict[str, Any]] = []
    try:
        # Warm-up: not measured.
        if cfg.warmup > 0:
            go = asyncio.Event()
            tasks = [run_pair(p, run_id, "w", cfg.warmup, cfg, go) for p in pairs]
            go.set()
            await bounded(asyncio.gather(*tasks), cfg.phase_timeout, f"{server.name} warm-up")
        for r in range(cfg.rounds):
            await asyncio.sleep(0.2)
            rounds.append(await timed_round(server, pairs, run_id, f"t{r}", cfg))
            if cfg.verbose:
                last = rounds[-1]
                print(
                    f"[{server.name}] round {r + 1}: {last['messages_per_second']:.0f} msg/s, "
                    f"p99 {last['one_way_ms']['p99']:.2f} ms",
                    flush=True,
                )
    finally:
        await close_pairs(pairs)

    # Throughput and CPU: the median round (robust to a neighbour's burst on a shared
    # machine); latencies: every message of every round pooled.
    one_way_all = [v for r in rounds for v in r.pop("_one_way")]
    ack_all = [v for r in rounds for v in r.pop("_ack")]

    def med(key: str) -> float | None:
        values = [r[key] for r in rounds if r[key] is not None]
        return median(values) if values else None

    return {
        "server": server.name,
        "url": server.url,
        "pairs": len(pairs),
        "round_trips_per_pair": cfg.round_trips,
        "rounds": len(rounds),
        "messages": len(one_way_all),
        "setup_seconds": round(setup_seconds, 3),
        "elapsed_seconds": sum(r["elapsed_seconds"] for r in rounds),
        "messages_per_second": med("messages_per_second"),
        "one_way_ms": summarize_ms(one_way_all),
        "ack_ms": summarize_ms(ack_all),
        "server_cpu_percent": med("server_cpu_percent"),
        "server_cpu_us_per_message": med("server_cpu_us_per_message"),
        "client_cpu_percent": med("client_cpu_percent"),
        "services_cpu_percent": med("services_cpu_percent"),
        "services_cpu_us_per_message": med("services_cpu_us_per_message"),
        "other_cpu_percent": med("other_cpu_percent"),
        "per_round": rounds,
    }


def run_target(
    name: str,
    cfg: Config,
    external_url: str | None,
    notes: list[str],
) -> dict[str, Any]:
    """Start the server (unless external), drive it, stop it. Synchronous on purpose:
    the server is stopped in `finally` even when the event loop was interrupted."""
    server: Server
    if external_url:
        server = Server(name=name, url=external_url.rstrip("/"))
    else:
        port = free_port()
        if name == "bare":
            cmd = [sys.executable, str(HERE / "bare_relay.py"), "--port", str(port)]
            env: dict[str, str] = {}
        else:
            cmd = [
                sys.executable, "-m", "gateway", "serve", "--demo",
                "--host", "127.0.0.1", "--port", str(port),
            ]  # fmt: skip
            env = {
                "TANDEM_OFFER_TIMEOUT_SECONDS": "30",
                "TANDEM_WRAP_UP_SECONDS": "0",
                "TANDEM_AGENT_CAPACITY": str(cfg.agent_capacity),
                **cfg.tandem_env,
            }
        print(f"[{name}] starting: {' '.join(cmd)}", flush=True)
        server = start_server(name, cmd, port, env)
    try:
        wait_ready(server, cfg.ready_timeout)
        print(f"[{name}] ready at {server.url}; driving {cfg.pairs} pairs", flush=True)
        run_id = uuid.uuid4().hex

        async def setup() -> list[Pair]:
            if name == "bare":
                return await setup_bare(server.url, cfg, run_id)
            return await setup_tandem(server.url, cfg, run_id, notes)

        result = asyncio.run(drive(server, cfg, setup))
        if server.proc is not None and server.proc.poll() is not None:
            raise BenchError(f"{name} exited during the run; log:\n{server.log_tail()}")
        result["log"] = str(server.log_path) if server.log_path else None
        return result
    finally:
        stop_server(server)
        if server.proc is not None:
            print(f"[{name}] stopped (exit code {server.proc.returncode})", flush=True)


# --------------------------------------------------------------------------- report


def compare(bare: dict[str, Any] | None, tandem: dict[str, Any] | None) -> dict[str, Any]:
    if not bare or not tandem:
        return {}
    ratio = tandem["messages_per_second"] / bare["messages_per_second"]
    p99_diff = tandem["one_way_ms"]["p99"] - bare["one_way_ms"]["p99"]
    p50_diff = tandem["one_way_ms"]["p50"] - bare["one_way_ms"]["p50"]
    return {
        "throughput_ratio_tandem_over_bare": ratio,
        "one_way_p50_diff_ms": p50_diff,
        "one_way_p99_diff_ms": p99_diff,
        "goal": {
            "throughput_ratio_min": GOAL_THROUGHPUT_RATIO,
            "p99_extra_ms_max": GOAL_P99_EXTRA_MS,
            "throughput_met": ratio >= GOAL_THROUGHPUT_RATIO,
            "p99_met": p99_diff <= GOAL_P99_EXTRA_MS,
        },
    }


def print_table(results: dict[str, Any], comparison: dict[str, Any]) -> None:
    bare, tandem = results.get("bare"), results.get("tandem")

    def cell(r: dict[str, Any] | None, *path: str, fmt: str = "{:.2f}") -> str:
        if not r:
            return "-"
        value: Any = r
        for p in path:
            value = value.get(p) if isinstance(value, dict) else None
        return "-" if value is None else fmt.format(value)

    def diff(*path: str, ratio: bool = False) -> str:
        if not bare or not tandem:
            return ""
        a: Any = bare
        b: Any = tandem
        for p in path:
            a, b = a.get(p), b.get(p)
        if a is None or b is None:
            return ""
        return f"{b / a:.2f}x" if ratio else f"{b - a:+.2f} ms"

    def row(label: str, *path: str, fmt: str = "{:.2f}", ratio: bool = False,
            compare: bool = True) -> tuple[str, str, str, str]:  # fmt: skip
        return (
            label,
            cell(bare, *path, fmt=fmt),
            cell(tandem, *path, fmt=fmt),
            diff(*path, ratio=ratio) if compare else "",
        )

    rows = [
        row("messages/s", "messages_per_second", fmt="{:.0f}", ratio=True),
        row("one-way p50 (ms)", "one_way_ms", "p50"),
        row("one-way p90 (ms)", "one_way_ms", "p90"),
        row("one-way p99 (ms)", "one_way_ms", "p99"),
        row("one-way max (ms)", "one_way_ms", "max"),
        row("ack p50 (ms)", "ack_ms", "p50"),
        row("ack p99 (ms)", "ack_ms", "p99"),
        row("server CPU (% of 1 core)", "server_cpu_percent", fmt="{:.0f}", compare=False),
        row("server CPU per message (us)", "server_cpu_us_per_message", fmt="{:.0f}", ratio=True),
        row("client CPU (% of 1 core)", "client_cpu_percent", fmt="{:.0f}", compare=False),
        row("PostgreSQL+Redis CPU (%)", "services_cpu_percent", fmt="{:.0f}", compare=False),
        row("other processes' CPU (%)", "other_cpu_percent", fmt="{:.0f}", compare=False),
        row("messages timed", "messages", fmt="{}", compare=False),
        row("timed phases, total (s)", "elapsed_seconds", compare=False),
    ]
    header = ("", "bare relay", "Tandem", "tandem vs bare")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)
        )

    print()
    print(line(header))
    for r in rows:
        print(line(r))
    if comparison:
        goal = comparison["goal"]
        print()
        print(
            f"goal: throughput >= {GOAL_THROUGHPUT_RATIO:.1f}x bare: "
            f"{'MET' if goal['throughput_met'] else 'NOT MET'} "
            f"({comparison['throughput_ratio_tandem_over_bare']:.2f}x); "
            f"p99 <= bare + {GOAL_P99_EXTRA_MS:.0f} ms: "
            f"{'MET' if goal['p99_met'] else 'NOT MET'} "
            f"({comparison['one_way_p99_diff_ms']:+.2f} ms)"
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark Tandem's chat relay against a bare python-socketio relay."
    )
    parser.add_argument("--pairs", type=int, default=None, help="customer+agent pairs (default 20)")
    parser.add_argument(
        "--round-trips", type=int, default=None, help="timed round trips per pair (default 200)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed round trips per pair first (default 20)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="timed phases per server (default 3); messages/s is the median round's",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 3 pairs x 20 round trips, 1 round"
    )
    parser.add_argument(
        "--only", choices=["bare", "tandem"], help="run only one of the two servers"
    )
    parser.add_argument("--text-chars", type=int, default=80, help="message text length")
    parser.add_argument(
        "--agent-capacity", type=int, default=10, help="TANDEM_AGENT_CAPACITY for the run"
    )
    parser.add_argument(
        "--tandem-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the Tandem process (repeatable), e.g. TANDEM_LOG_LEVEL=WARNING",
    )
    parser.add_argument(
        "--tandem-url", help="use an already running Tandem (--demo) instead of starting one"
    )
    parser.add_argument("--bare-url", help="use an already running bare relay instead")
    parser.add_argument("--message-timeout", type=float, default=10.0)
    parser.add_argument("--setup-timeout", type=float, default=15.0)
    parser.add_argument("--phase-timeout", type=float, default=300.0)
    parser.add_argument("--ready-timeout", type=float, default=30.0)
    parser.add_argument(
        "--output", type=Path, default=RESULTS_DIR / "bench_relay.json", help="JSON results file"
    )
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def make_config(args: argparse.Namespace) -> Config:
    pairs = args.pairs if args.pairs is not None else (3 if args.quick else 20)
    round_trips = args.round_trips if args.round_trips is not None else (20 if args.quick else 200)
    warmup = args.warmup if args.warmup is not None else (5 if args.quick else 20)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if not 1 <= pairs <= MAX_PAIRS:
        raise SystemExit(f"--pairs must be 1..{MAX_PAIRS}")
    if round_trips < 1 or warmup < 0 or not 1 <= rounds <= 20:
        raise SystemExit("--round-trips must be >= 1, --warmup >= 0, --rounds 1..20")
    total = pairs * (round_trips * rounds + warmup)
    if total > MAX_TOTAL_ROUND_TRIPS:
        raise SystemExit(
            f"pairs x (round trips x rounds + warm-up) = {total} is above the bound of "
            f"{MAX_TOTAL_ROUND_TRIPS} per server"
        )
    tandem_env: dict[str, str] = {}
    for item in args.tandem_env:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("TANDEM_"):
            raise SystemExit(f"--tandem-env wants TANDEM_NAME=VALUE, got {item!r}")
        tandem_env[name] = value
    return Config(
        pairs=pairs,
        round_trips=round_trips,
        rounds=rounds,
        warmup=warmup,
        message_timeout=args.message_timeout,
        setup_timeout=args.setup_timeout,
        phase_timeout=args.phase_timeout,
        ready_timeout=args.ready_timeout,
        text_chars=max(1, args.text_chars),
        agent_capacity=args.agent_capacity,
        tandem_env=tandem_env,
        verbose=args.verbose,
    )


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _sigterm(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = make_config(args)
    signal.signal(signal.SIGTERM, _sigterm)  # a killed benchmark still stops its servers

    targets = [t for t in ("bare", "tandem") if args.only in (None, t)]
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    notes: list[str] = []
    try:
        for name in targets:
            external = args.bare_url if name == "bare" else args.tandem_url
            try:
                results[name] = run_target(name, cfg, external, notes)
            except BenchError as error:
                errors[name] = str(error)
                print(f"[{name}] FAILED: {error}", file=sys.stderr, flush=True)
            except Exception as error:  # a client library error: report it, go on
                errors[name] = repr(error)
                print(f"[{name}] FAILED: {error!r}", file=sys.stderr, flush=True)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Ctrl-C (python-socketio's client also hooks SIGINT and disconnects, so it can
        # surface as a cancellation). run_target has already stopped the server.
        print("\ninterrupted; the servers this run started are stopped", file=sys.stderr)
        return 130

    comparison = compare(results.get("bare"), results.get("tandem"))
    print_table(results, comparison)
    for name, result in results.items():
        rates = ", ".join(f"{r['messages_per_second']:.0f}" for r in result["per_round"])
        print(f"{name}: messages/s per round: {rates}")
        busy = [r["other_cpu_percent"] for r in result["per_round"] if r["other_cpu_percent"]]
        if busy and max(busy) > OTHER_CPU_WARN_PERCENT:
            notes.append(
                f"{name}: other processes used up to {max(busy):.0f}% of a core during a "
                f"timed round: the machine was not quiet, figures are noisy"
            )
    for note in notes:
        print(f"note: {note}")

    report = {
        "benchmark": "bench_relay",
        "at": datetime.now(UTC).isoformat(),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python_socketio": _version("python-socketio"),
            "aiohttp": _version("aiohttp"),
        },
        "config": {
            "pairs": cfg.pairs,
            "round_trips_per_pair": cfg.round_trips,
            "rounds": cfg.rounds,
            "warmup_round_trips_per_pair": cfg.warmup,
            "text_chars": cfg.text_chars,
            "quick": args.quick,
            "tandem_env": {
                "TANDEM_OFFER_TIMEOUT_SECONDS": "30",
                "TANDEM_WRAP_UP_SECONDS": "0",
                "TANDEM_AGENT_CAPACITY": str(cfg.agent_capacity),
                **cfg.tandem_env,
            },
        },
        "results": results,
        "comparison": comparison,
        "errors": errors,
        "notes": notes,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {args.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
