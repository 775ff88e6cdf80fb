"""The endpoint process of `bench_calls.py`: N calls' customers and agents, and the meters.

One process, its own event loop, separate from the server under test. Each call has a
customer and an agent aiortc peer (loopback only), each sending a pre-encoded Opus tone
(`EncodedAudioLoop` paced by `SwitchableAudioTrack`: no encoding) and counting what it
receives without decoding (`EncodedReceive`). The same peers are used for both targets;
only the signaling differs:

* ``tandem``: the real protocol: demo logins (fresh ``customer-*``/``agent-*`` users), the
  agent sets itself ready, the customer starts a conversation and asks for an agent, the
  agent accepts the offer, ``call.start``, ``call.incoming``, ``call.answer``; at the end
  ``call.hangup``;
* ``bare``: ``POST /call`` with both offers to `bench_calls.py`'s MediaRelay server.

After set-up and a warm-up it measures, over ``--seconds``: frames/s each peer received
and the largest gap between them, the server process's CPU (utime + stime from
``/proc/<pid>/stat``) and RSS (sampled each second), a ``GET /healthz`` every 100 ms
(latency: the server's event-loop lag plus loopback HTTP), and this process's own CPU
(if it nears a full core the endpoints, not the server, are the bottleneck). Writes JSON
to ``--output``.

    python loadtests/call_endpoints.py --target bare --url http://127.0.0.1:8099 \
        --server-pid 1234 --calls 4 --output /tmp/endpoints.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media.audio_loop import EncodedAudioLoop  # noqa: E402
from media.encoded_receive import EncodedReceive, receiver_for_track  # noqa: E402
from media.frames import EncodedFrame  # noqa: E402
from media.switchable import SwitchableAudioTrack  # noqa: E402
from media.testing import loopback_peer, wait_connected  # noqa: E402
from tests.e2e.harness import Client, hand_to_agent  # noqa: E402

CALL_EVENTS = ("call.incoming", "call.ended", "call.left")


class CountingEar:
    """Counts encoded frames and the largest gap between them; decodes nothing."""

    def __init__(self) -> None:
        self.frames = 0
        self.last: float | None = None
        self.max_gap = 0.0

    def push(self, frame: EncodedFrame) -> None:
        now = time.monotonic()
        if self.last is not None:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.frames += 1

    def close(self) -> None:
        pass


@dataclass
class Peer:
    pc: RTCPeerConnection
    ear: CountingEar
    hooks: list[EncodedReceive] = field(default_factory=list)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))


def make_peer(tone: EncodedAudioLoop) -> Peer:
    pc = loopback_peer()
    pc.addTrack(SwitchableAudioTrack(tone))
    peer = Peer(pc, CountingEar())

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        peer.hooks.append(EncodedReceive(receiver_for_track(pc, track), peer.ear))

    return peer


@dataclass
class Call:
    customer: Peer
    agent: Peer
    call_id: str = ""
    clients: list[Client] = field(default_factory=list)


def listen(client: Client, *names: str) -> None:
    for name in names:

        def record(data: Any = None, name: str = name) -> None:
            client.received.append((name, data))
            client._changed.set()

        client.sio.on(name, record, namespace=client.namespace)


async def client_for(http: aiohttp.ClientSession, url: str, username: str) -> Client:
    async with http.post(f"{url}/api/v1/demo/login", json={"username": username}) as r:
        if r.status != 200:
            raise RuntimeError(f"demo login {username}: HTTP {r.status} {await r.text()}")
        login = await r.json()
    client = Client(url, f"/{login['role']}", login["token"], login)
    listen(client, *CALL_EVENTS)
    await client.connect()
    return client


def ok(ack: dict[str, Any]) -> dict[str, Any]:
    if not ack.get("ok"):
        raise RuntimeError(f"refused: {ack}")
    return ack


async def setup_tandem(http: aiohttp.ClientSession, url: str, call: Call, tag: str) -> None:
    customer = await client_for(http, url, f"customer-{tag}")
    agent = await client_for(http, url, f"agent-{tag}")
    call.clients += [customer, agent]
    cid = await hand_to_agent(customer, agent)
    started = ok(
        await customer.call(
            "call.start",
            {
                "key": uuid.uuid4().hex,
                "conversation_id": cid,
                "media": "audio",
                "sdp": await call.customer.offer(),
            },
        )
    )
    call.call_id = started["call_id"]
    await call.customer.accept(started["sdp"])
    await agent.wait_for("call.incoming", lambda c: c["call_id"] == call.call_id, timeout=10)
    answered = ok(
        await agent.call(
            "call.answer",
            {"key": uuid.uuid4().hex, "call_id": call.call_id, "sdp": await call.agent.offer()},
        )
    )
    await call.agent.accept(answered["sdp"])


async def setup_bare(http: aiohttp.ClientSession, url: str, call: Call, tag: str) -> None:
    body = {"call": tag, "customer": await call.customer.offer(), "agent": await call.agent.offer()}
    async with http.post(f"{url}/call", json=body) as r:
        if r.status != 200:
            raise RuntimeError(f"POST /call: HTTP {r.status} {await r.text()}")
        answers = await r.json()
    await call.customer.accept(answers["customer"])
    await call.agent.accept(answers["agent"])


async def teardown(call: Call) -> None:
    if call.call_id and call.clients:
        try:
            await call.clients[0].call("call.hangup", {"call_id": call.call_id}, timeout=5)
        except Exception as error:
            print(f"hangup {call.call_id}: {error!r}", file=sys.stderr)
    for peer in (call.customer, call.agent):
        await peer.pc.close()
    for client in call.clients:
        with contextlib.suppress(Exception):  # the server may have gone
            await client.close()


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def probe(
    http: aiohttp.ClientSession, url: str, into: list[float], stop: asyncio.Event
) -> None:
    """GET /healthz every 100 ms; the latency of each (a timeout counts as 2 s)."""
    while not stop.is_set():
        began = time.monotonic()
        try:
            async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                await r.read()
            into.append(time.monotonic() - began)
        except (aiohttp.ClientError, TimeoutError):
            into.append(2.0)
        await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - began)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tones = [EncodedAudioLoop.tone(440.0), EncodedAudioLoop.tone(880.0)]
    calls: list[Call] = []
    run_tag = uuid.uuid4().hex[:8]
    setup = setup_tandem if args.target == "tandem" else setup_bare
    failures: list[str] = []
    # The server's own cost with no call (timers, bot, housekeeping), for the net figure.
    idle_cpu, idle_began = proc_cpu_seconds(args.server_pid), time.monotonic()
    await asyncio.sleep(args.idle)
    idle_share = (proc_cpu_seconds(args.server_pid) - idle_cpu) / (time.monotonic() - idle_began)
    async with aiohttp.ClientSession() as http:
        began = time.monotonic()
        try:
            for i in range(args.calls):
                call = Call(make_peer(tones[0]), make_peer(tones[1]))
                calls.append(call)
                try:
                    async with asyncio.timeout(args.setup_timeout):
                        await setup(http, args.url, call, f"b{run_tag}-{i}")
                except Exception as error:
                    failures.append(f"call {i}: set-up failed: {error!r}")
                    break
            connected = [c for c in calls if not failures or c is not calls[-1]]
            try:
                async with asyncio.timeout(args.setup_timeout):
                    await wait_connected(*(p.pc for c in connected for p in (c.customer, c.agent)))
            except (TimeoutError, ConnectionError) as error:
                failures.append(f"peers not connected: {error!r}")
            setup_seconds = time.monotonic() - began
            await asyncio.sleep(args.warmup)

            ears = [p.ear for c in connected for p in (c.customer, c.agent)]
            for ear in ears:
                ear.max_gap = 0.0
            lags: list[float] = []
            stop = asyncio.Event()
            prober = asyncio.create_task(probe(http, args.url, lags, stop))
            frames_before = [ear.frames for ear in ears]
            cpu_before = proc_cpu_seconds(args.server_pid)
            own_before = time.process_time()
            wall_before = time.monotonic()
            rss: list[float] = []
            while time.monotonic() - wall_before < args.seconds:
                rss.append(round(proc_rss_mb(args.server_pid), 1))
                await asyncio.sleep(min(1.0, args.seconds - (time.monotonic() - wall_before)))
            wall = time.monotonic() - wall_before
            cpu = proc_cpu_seconds(args.server_pid) - cpu_before
            own = time.process_time() - own_before
            frames_after = [ear.frames for ear in ears]
            rss.append(round(proc_rss_mb(args.server_pid), 1))
            stop.set()
            await prober
        finally:
            await asyncio.gather(*(teardown(c) for c in calls), return_exceptions=True)
    n = len(connected)
    rates = [(b - a) / wall for a, b in zip(frames_before, frames_after, strict=True)]
    return {
        "target": args.target,
        "calls_asked": args.calls,
        "calls": n,
        "failures": failures,
        "setup_seconds": round(setup_seconds, 2),
        "wall_seconds": round(wall, 2),
        "server_cpu_seconds": round(cpu, 3),
        "server_cpu_share_of_one_core": round(cpu / wall, 3),
        "server_cpu_seconds_per_call_second": round(cpu / wall / n, 4) if n else None,
        "server_idle_cpu_share_of_one_core": round(idle_share, 3),
        "server_net_cpu_seconds_per_call_second": (
            round((cpu / wall - idle_share) / n, 4) if n else None
        ),
        # Stays meaningful when a saturated server delivers fewer frames than it should.
        "server_cpu_ms_per_received_frame": round(1000 * cpu / max(1.0, sum(rates) * wall), 3),
        "frames_per_second_per_direction": {
            "mean": round(statistics.fmean(rates), 1) if rates else 0.0,
            "min": round(min(rates), 1) if rates else 0.0,
        },
        "max_gap_ms": round(1000 * max((e.max_gap for e in ears), default=0.0)),
        "healthz_ms": {
            "p50": round(1000 * percentile(lags, 0.5), 1) if lags else None,
            "p99": round(1000 * percentile(lags, 0.99), 1) if lags else None,
            "max": round(1000 * max(lags), 1) if lags else None,
            "samples": len(lags),
        },
        "server_rss_mb": {"start": rss[0], "end": rss[-1], "max": max(rss), "series": rss},
        "endpoint_cpu_share_of_one_core": round(own / wall, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("tandem", "bare"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--idle", type=float, default=2.0, help="idle seconds measured first")
    parser.add_argument("--setup-timeout", type=float, default=20.0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["calls"] else 1


if __name__ == "__main__":
    sys.exit(main())
