"""The endpoint processes of `bench_calls.py`: some of the calls' peers, and their meters.

`bench_calls.py` starts several of these (``--endpoint-procs``), each holding a share of
the calls, so that the endpoints are not what limits the run. Each call is a customer
and an agent aiortc peer on loopback; both are as cheap as an endpoint can be:

* they **send pre-encoded media** (`PacedLoop`: Opus packets, and VP8 frames for video
  calls, encoded once at start-up, handed to aiortc as packets: nothing is encoded per
  call). Every payload of a loop is distinct and its last send time is kept, so the
  receiving side can tell whose packet it got and how long it took;
* they **receive encoded frames** through `media.encoded_receive` (the server's own
  hook), counting them without decoding.

Only the signaling differs between the targets:

* ``tandem``: the real protocol: demo logins (fresh ``customer-*``/``agent-*`` users),
  ``conversation.start``, the agent ``presence.set ready``, ``agent.request``,
  ``offer.accept``, ``call.start``, ``call.incoming``, ``call.answer``; ``call.hangup``
  and ``conversation.close`` at the end. The step from "agent ready" to "offer accepted"
  runs under a lock shared by all endpoint processes (``--lock``): with the server's
  agent capacity at 1, the only ready agent with room is then this call's, so the router
  cannot cross the pairs;
* ``bare``: ``POST /call`` with both offers to `bare_media_relay.py`.

Besides the calls, ``--direct-pairs`` pairs of the same peers are connected straight to
each other (no server): their one-way latency, measured in the same window under the
same load, is the baseline subtracted from the calls' to get what the server adds.

Driven over stdin/stdout, one JSON object per line (stdout carries nothing else; logs go
to stderr):

    -> {"ready": true, "calls": n, "failures": [...], "setup_seconds": s}   (after set-up)
    <- {"cmd": "measure", "seconds": s}  -> {"measured": {...}}
    <- {"cmd": "switch", "cycles": c, "pause": p}  -> {"switches": {...}}  (tandem)
    <- {"cmd": "quit"}  -> {"bye": true}  (after hanging up and closing every peer)

``measure`` counts, over the window, each receiving peer's frames per second (all, and
those that are the other party's own payloads), the largest gap between frames, and the
one-way latency of every matched packet (send -> this process's receive hook; both ends
are in this process, one clock). ``switch`` has each call's agent put the customer on
hold and take them off again, ``cycles`` times, and times, at the customer's peer, the
first packet of the new source (Tandem's hold audio, then the agent's own payloads)
after the command's ack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import fractions
import json
import logging
import random
import sys
import time
import uuid
from array import array
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import av
import socketio
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.codec.context import CodecContext

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media.audio_loop import EncodedAudioLoop, encode_opus_loop, tone_pcm  # noqa: E402
from media.encoded_receive import (  # noqa: E402
    EncodedReceive,
    on_keyframe_request,
    receiver_for_track,
)
from media.frames import (  # noqa: E402
    AUDIO_TIME_BASE,
    OPUS_FRAME_SAMPLES,
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    EncodedFrame,
    EncodedPacket,
    make_packet,
    vp8_is_keyframe,
)
from media.testing import connect, loopback_peer, wait_connected  # noqa: E402

Kind = Literal["audio", "video"]
TIMEOUT = 15.0
# Set-ups in flight per process: enough to overlap the round trips, few enough not to
# stall the calls already flowing.
SETUP_CONCURRENCY = 4


def emit(message: dict[str, Any]) -> None:
    with contextlib.suppress(BrokenPipeError):  # the benchmark has gone: nobody to tell
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ pre-encoded media


def distinct_opus_loop(frequency: float, seed: int, seconds: float = 5.0) -> tuple[bytes, ...]:
    """A tone with a little deterministic noise, so that no two packets are the same.

    Long enough (5 s) that a packet's payload names its send time even when a saturated
    server delays it by seconds.
    """
    import numpy as np

    tone = np.frombuffer(tone_pcm(frequency, seconds, 0.2), dtype=np.int16).astype(np.int32)
    noise = np.random.default_rng(seed).integers(-300, 301, size=tone.size)
    noisy = array("h", np.clip(tone + noise, -32768, 32767).astype(np.int16).tobytes())
    packets = tuple(encode_opus_loop(noisy))
    if len(set(packets)) != len(packets):
        raise RuntimeError(f"the {frequency} Hz loop repeats a packet: latency would be ambiguous")
    return packets


def vp8_loop(width: int, height: int, fps: int, seconds: float = 2.0) -> tuple[bytes, ...]:
    """A moving picture as VP8: one keyframe, then delta frames (a camera's GOP)."""
    import numpy as np

    count = round(fps * seconds)
    encoder = CodecContext.create("libvpx", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuv420p"
    encoder.bit_rate = 600_000
    encoder.framerate = fractions.Fraction(fps, 1)
    encoder.time_base = fractions.Fraction(1, fps)
    encoder.gop_size = count
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    ys, xs = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 24, size=(height, width), dtype=np.uint8)
    frames: list[bytes] = []
    for i in range(count):
        image = np.zeros((height, width, 3), dtype=np.uint8)
        image[..., 0] = ((xs + 4 * i) % 256).astype(np.uint8)
        image[..., 1] = ((ys + 2 * i) % 256).astype(np.uint8)
        image[..., 2] = texture
        box = (i * width // count, height // 3)
        image[box[1] : box[1] + height // 3, box[0] : box[0] + width // 8] = (240, 240, 40)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        frames.extend(bytes(p) for p in encoder.encode(frame))
    frames.extend(bytes(p) for p in encoder.encode(None))
    if not frames or not vp8_is_keyframe(frames[0]) or len(set(frames)) != len(frames):
        raise RuntimeError("the VP8 loop must start with a keyframe and repeat no frame")
    return tuple(frames)


def write_loop(path: Path, payloads: tuple[bytes, ...]) -> None:
    """Payloads to a file (length-prefixed), so that every endpoint process shares one loop."""
    path.write_bytes(b"".join(len(p).to_bytes(4, "big") + p for p in payloads))


def read_loop(path: Path) -> tuple[bytes, ...]:
    data, payloads, at = path.read_bytes(), [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        payloads.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return tuple(payloads)


class PacedLoop(MediaStreamTrack):
    """Pre-encoded payloads at a fixed pace; the last send time of each is kept in `sent`."""

    def __init__(self, kind: Kind, payloads: tuple[bytes, ...], fps: float) -> None:
        super().__init__()
        self.kind = kind
        self._payloads = payloads
        self._interval = 1.0 / fps
        if kind == "audio":
            self._step, self._time_base = OPUS_FRAME_SAMPLES, AUDIO_TIME_BASE
        else:
            self._step, self._time_base = round(VIDEO_CLOCK_RATE / fps), VIDEO_TIME_BASE
        self._index = 0
        self._pts = 0
        self._due: float | None = None
        self.sent: dict[bytes, float] = {}

    def restart(self) -> None:
        """A keyframe was asked for: the loop's first frame is one."""
        self._index = 0

    async def recv(self) -> EncodedPacket:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._due is None or now - self._due > 0.1:
            self._due = now
        elif self._due > now:
            await asyncio.sleep(self._due - now)
        self._due += self._interval
        data = self._payloads[self._index]
        self._index = (self._index + 1) % len(self._payloads)
        self.sent[data] = time.monotonic()
        packet = make_packet(data, self._pts, self._time_base)
        self._pts += self._step
        return packet


# ------------------------------------------------------------------------- meters


class Ear:
    """A receiving track's sink: counts, gaps, latency of the expected sender's packets."""

    def __init__(self) -> None:
        self.frames = 0
        self.matched = 0
        self.last: float | None = None
        self.max_gap = 0.0
        self.expected: dict[bytes, float] | None = None
        self.latencies: list[float] | None = None
        # (is this payload the new source?, resolved with the arrival time of the first)
        self.watch: tuple[Callable[[bytes], bool], asyncio.Future[float]] | None = None
        self._began: tuple[int, int] = (0, 0)

    def push(self, frame: EncodedFrame) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last > self.max_gap:
            self.max_gap = now - self.last
        self.last = now
        self.frames += 1
        data = frame.data
        if self.expected is not None:
            sent = self.expected.get(data)
            if sent is not None:
                self.matched += 1
                if self.latencies is not None:
                    self.latencies.append(now - sent)
        watch = self.watch
        if watch is not None and watch[0](data):
            self.watch = None
            if not watch[1].done():
                watch[1].set_result(now)

    def close(self) -> None:
        pass

    def begin(self) -> None:
        self._began = (self.frames, self.matched)
        self.max_gap = 0.0
        self.latencies = []

    def end(self, wall: float) -> dict[str, float]:
        latencies, self.latencies = self.latencies or [], None
        return {
            "fps": (self.frames - self._began[0]) / wall,
            "matched_fps": (self.matched - self._began[1]) / wall,
            "max_gap": self.max_gap,
            "latencies": latencies,  # type: ignore[dict-item]
        }


@dataclass
class Peer:
    pc: RTCPeerConnection
    tracks: dict[Kind, PacedLoop]
    ears: dict[Kind, Ear] = field(default_factory=lambda: {"audio": Ear(), "video": Ear()})
    hooks: list[EncodedReceive] = field(default_factory=list)

    @classmethod
    def create(cls, audio: tuple[bytes, ...], video: tuple[bytes, ...] | None, fps: int) -> Peer:
        pc = loopback_peer()
        peer = cls(pc, {"audio": PacedLoop("audio", audio, 50.0)})
        pc.addTrack(peer.tracks["audio"])
        if video is not None:
            track = PacedLoop("video", video, float(fps))
            peer.tracks["video"] = track
            on_keyframe_request(pc.addTrack(track), track.restart)

        @pc.on("track")
        def on_track(remote: MediaStreamTrack) -> None:
            receiver = receiver_for_track(pc, remote)
            kind: Kind = "audio" if remote.kind == "audio" else "video"
            peer.hooks.append(EncodedReceive(receiver, peer.ears[kind]))

        return peer

    def hears(self, other: Peer) -> None:
        for kind, track in other.tracks.items():
            self.ears[kind].expected = track.sent

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))


# ---------------------------------------------------------------------- signaling


class SioClient:
    """A python-socketio client on the websocket transport that keeps what it receives."""

    EVENTS = ("event", "offer", "call.incoming", "call.ended", "call.left")

    def __init__(self, url: str, login: dict[str, Any]) -> None:
        self.url = url
        self.login = login
        self.namespace = f"/{login['role']}"
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        for name in self.EVENTS:
            self.sio.on(name, self._recorder(name), namespace=self.namespace)

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(data: Any = None) -> None:
            self.received.append((name, data))
            self._changed.set()

        return record

    @property
    def id(self) -> str:
        return str(self.login["id"])

    async def connect(self) -> None:
        await self.sio.connect(
            self.url,
            namespaces=[self.namespace],
            transports=["websocket"],
            auth={"token": self.login["token"]},
            wait_timeout=TIMEOUT,
        )

    async def call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack = await self.sio.call(event, payload, namespace=self.namespace, timeout=TIMEOUT)
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise RuntimeError(f"{event} refused: {ack}")
        return ack

    async def command(self, event: str, **payload: Any) -> dict[str, Any]:
        return await self.call(event, {"key": uuid.uuid4().hex, **payload})

    async def wait(self, name: str, predicate: Callable[[Any], bool]) -> Any:
        async def search() -> Any:
            while True:
                for got, data in self.received:
                    if got == name and predicate(data):
                        return data
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(search(), TIMEOUT)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # the server may have gone
            await self.sio.disconnect()


class RoutingLock:
    """One ready-and-unassigned agent at a time, across every endpoint process."""

    def __init__(self, path: Path | None) -> None:
        self._local = asyncio.Lock()
        self._file = open(path, "a+b") if path is not None else None  # noqa: SIM115

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with self._local:
            if self._file is not None:
                await asyncio.to_thread(fcntl.flock, self._file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if self._file is not None:
                    fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)


@dataclass
class Call:
    customer: Peer
    agent: Peer
    call_id: str = ""
    conversation_id: str = ""
    customer_client: SioClient | None = None
    agent_client: SioClient | None = None


# ------------------------------------------------------------------------ the process


class Endpoints:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.media: Literal["audio", "video"] = args.media
        self.calls: list[Call] = []
        self.direct: list[Call] = []
        self.failures: list[str] = []
        self.routing = RoutingLock(args.lock)
        seed = args.seed
        self.customer_audio = distinct_opus_loop(440.0, seed)
        self.agent_audio = distinct_opus_loop(660.0, seed + 1)
        # What Tandem's customers hear on hold (the same encoder, the same packets): the
        # switch meter looks for these.
        self.hold_audio = frozenset(EncodedAudioLoop.hold_music().packets)
        self.video: tuple[bytes, ...] | None = None
        if self.media == "video":
            self.video = (
                read_loop(args.video_loop)
                if args.video_loop is not None
                else vp8_loop(args.width, args.height, args.fps)
            )
        self.http: aiohttp.ClientSession | None = None

    def _pair(self) -> Call:
        customer = Peer.create(self.customer_audio, self.video, self.args.fps)
        agent = Peer.create(self.agent_audio, self.video, self.args.fps)
        customer.hears(agent)
        agent.hears(customer)
        return Call(customer, agent)

    async def setup(self) -> float:
        began = time.monotonic()
        self.http = aiohttp.ClientSession()
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one(i: int) -> None:
            call = self._pair()
            async with gate:
                try:
                    async with asyncio.timeout(self.args.setup_timeout):
                        if self.args.target == "tandem":
                            await self._setup_tandem(call, f"{self.args.tag}-{i}")
                        else:
                            await self._setup_bare(call)
                        await wait_connected(call.customer.pc, call.agent.pc)
                except Exception as error:
                    self.failures.append(f"call {i}: {error!r}")
                    await self._teardown(call)
                    return
            self.calls.append(call)

        await asyncio.gather(*(one(i) for i in range(self.args.calls)))
        for _ in range(self.args.direct_pairs):
            pair = self._pair()
            await connect(pair.customer.pc, pair.agent.pc)
            await wait_connected(pair.customer.pc, pair.agent.pc)
            self.direct.append(pair)
        return time.monotonic() - began

    async def _login(self, username: str) -> SioClient:
        assert self.http is not None
        url = f"{self.args.url}/api/v1/demo/login"
        async with self.http.post(url, json={"username": username}) as r:
            if r.status != 200:
                raise RuntimeError(f"demo login {username}: HTTP {r.status} {await r.text()}")
            client = SioClient(self.args.url, await r.json())
        await client.connect()
        return client

    async def _setup_tandem(self, call: Call, tag: str) -> None:
        customer = call.customer_client = await self._login(f"customer-{tag}")
        agent = call.agent_client = await self._login(f"agent-{tag}")
        cid = call.conversation_id = (await customer.command("conversation.start"))[
            "conversation_id"
        ]
        await customer.wait(
            "event",
            lambda e: e["conversation_id"] == cid and e["data"].get("kind") == "greeting",
        )
        async with self.routing.held():
            await agent.call("presence.set", {"status": "ready"})
            await customer.command("agent.request", conversation_id=cid)
            offer = await agent.wait("offer", lambda o: o["conversation_id"] == cid)
            await agent.command("offer.accept", offer_id=offer["offer_id"])
        await customer.wait(
            "event",
            lambda e: e["conversation_id"] == cid and e["data"].get("to") == f"agent:{agent.id}",
        )
        started = await customer.command(
            "call.start", conversation_id=cid, media=self.media, sdp=await call.customer.offer()
        )
        call.call_id = started["call_id"]
        await call.customer.accept(started["sdp"])
        await agent.wait("call.incoming", lambda c: c["call_id"] == call.call_id)
        answered = await agent.command(
            "call.answer", call_id=call.call_id, sdp=await call.agent.offer()
        )
        await call.agent.accept(answered["sdp"])

    async def _setup_bare(self, call: Call) -> None:
        assert self.http is not None
        body = {"customer": await call.customer.offer(), "agent": await call.agent.offer()}
        async with self.http.post(f"{self.args.url}/call", json=body) as r:
            if r.status != 200:
                raise RuntimeError(f"POST /call: HTTP {r.status} {await r.text()}")
            answers = await r.json()
        await call.customer.accept(answers["customer"])
        await call.agent.accept(answers["agent"])

    async def measure(self, seconds: float) -> dict[str, Any]:
        groups = {"calls": self.calls, "direct": self.direct}
        ears = [
            (group, kind, ear)
            for group, calls in groups.items()
            for call in calls
            for peer in (call.customer, call.agent)
            for kind, ear in peer.ears.items()
            if kind == "audio" or self.media == "video"
        ]
        for _, _, ear in ears:
            ear.begin()
        cpu, began = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - began
        cpu = time.process_time() - cpu
        out: dict[str, Any] = {"wall_seconds": wall, "cpu_seconds": cpu}
        # Calls the server or the network dropped during the run (e.g. ICE consent lost
        # under overload): their peers no longer connected.
        out["calls_dropped"] = sum(
            1
            for call in self.calls
            if call.customer.pc.connectionState != "connected"
            or call.agent.pc.connectionState != "connected"
        )
        for group in groups:
            for kind in ("audio", "video"):
                measured = [ear.end(wall) for g, k, ear in ears if g == group and k == kind]
                if not measured:
                    continue
                out[f"{group}_{kind}"] = {
                    "fps": [m["fps"] for m in measured],
                    "matched_fps": [m["matched_fps"] for m in measured],
                    "max_gap": [m["max_gap"] for m in measured],
                    "latencies": [
                        round(x, 5)
                        for m in measured
                        for x in m["latencies"]  # type: ignore[attr-defined]
                    ]
                    if kind == "audio"
                    else [],
                }
        return out

    async def switch(self, cycles: int, pause: float) -> dict[str, Any]:
        samples: list[dict[str, Any]] = []
        missed: list[str] = []
        loop = asyncio.get_running_loop()

        async def one(call: Call) -> None:
            ear = call.customer.ears["audio"]
            sent_by_agent = call.agent.tracks["audio"].sent
            agent = call.agent_client
            assert agent is not None
            for cycle in range(cycles):
                await asyncio.sleep(pause * random.random())  # not all calls at once
                for command in ("call.hold", "call.unhold"):
                    first: asyncio.Future[float] = loop.create_future()
                    began = time.monotonic()
                    # Hold: Tandem's hold audio. Unhold: a packet the agent sent after the
                    # command (one still in flight from before the hold does not count).
                    is_new: Callable[[bytes], bool] = (
                        self.hold_audio.__contains__
                        if command == "call.hold"
                        else lambda data, began=began: sent_by_agent.get(data, 0.0) >= began
                    )
                    ear.watch = (is_new, first)
                    sent = time.monotonic()
                    try:
                        await agent.call(command, {"call_id": call.call_id})
                    except Exception as error:
                        # The call ended under it (e.g. dropped by an overloaded machine).
                        ear.watch = None
                        missed.append(f"{call.call_id} {command} #{cycle}: {error}")
                        return
                    acked = time.monotonic()
                    try:
                        heard = await asyncio.wait_for(first, 3.0)
                    except TimeoutError:
                        ear.watch = None
                        missed.append(
                            f"{call.call_id} {command} #{cycle}: new source not heard in 3 s"
                        )
                        continue
                    samples.append(
                        {
                            "command": command,
                            "from_ack": heard - acked,
                            "from_send": heard - sent,
                            "ack": acked - sent,
                        }
                    )
                    await asyncio.sleep(pause)

        await asyncio.gather(*(one(call) for call in self.calls))
        return {"samples": samples, "missed": missed}

    async def teardown(self) -> None:
        await asyncio.gather(
            *(self._teardown(call) for call in self.calls + self.direct), return_exceptions=True
        )
        if self.http is not None:
            await self.http.close()

    async def _teardown(self, call: Call) -> None:
        if call.call_id and call.customer_client is not None:
            with contextlib.suppress(Exception):
                await call.customer_client.call("call.hangup", {"call_id": call.call_id})
        if call.conversation_id and call.agent_client is not None:
            # Left open, the conversation would go back to the queue once its agent's
            # connection is gone, and be offered to the next run's agents.
            with contextlib.suppress(Exception):
                await call.agent_client.command(
                    "conversation.close", conversation_id=call.conversation_id
                )
        for peer in (call.customer, call.agent):
            await peer.pc.close()
        for client in (call.customer_client, call.agent_client):
            if client is not None:
                await client.close()


async def stdin_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def serve(args: argparse.Namespace) -> int:
    reader = await stdin_lines()
    endpoints = Endpoints(args)
    try:
        seconds = await endpoints.setup()
        emit(
            {
                "ready": True,
                "calls": len(endpoints.calls),
                "direct_pairs": len(endpoints.direct),
                "failures": endpoints.failures,
                "setup_seconds": round(seconds, 2),
            }
        )
        while line := await reader.readline():
            message = json.loads(line)
            if message["cmd"] == "measure":
                emit({"measured": await endpoints.measure(float(message["seconds"]))})
            elif message["cmd"] == "switch":
                emit(
                    {
                        "switches": await endpoints.switch(
                            int(message["cycles"]), float(message["pause"])
                        )
                    }
                )
            elif message["cmd"] == "quit":
                break
    finally:
        await endpoints.teardown()
    emit({"bye": True})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("tandem", "bare"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--media", choices=("audio", "video"), default="audio")
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--direct-pairs", type=int, default=0)
    parser.add_argument("--tag", default=uuid.uuid4().hex[:8], help="user name suffix")
    parser.add_argument("--lock", type=Path, help="file locked around the routing step")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=15, help="video frames per second")
    parser.add_argument("--video-loop", type=Path, help="pre-encoded VP8 frames (write_loop)")
    parser.add_argument("--setup-timeout", type=float, default=30.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
