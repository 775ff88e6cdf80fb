"""Media forwarding benchmark: encoded fan-out (TrackHub) against aiortc's MediaRelay.

N bidirectional calls run in this one process, on loopback, three times over:

* ``clients``: customer and agent peers connected directly, no server in between: the
  cost of the simulated clients alone, subtracted from the two modes below;
* ``encoded``: customer <-> server <-> agent, the server forwarding the Opus payloads
  (``EncodedReceive`` -> ``TrackHub`` -> ``Forwarder`` to the agent,
  ``SwitchableAudioTrack`` to the customer): no decoding, no encoding;
* ``relay``: the same legs, the server using stock receivers and ``MediaRelay``: every
  frame decoded and re-encoded.

The clients are as cheap as they can be, so that the server's work stands out: each sends
a pre-encoded Opus tone (``EncodedAudioLoop``, paced by a ``SwitchableAudioTrack``) and
counts what it receives through ``EncodedReceive`` without decoding. Measured per mode,
after a warm-up: process CPU (``time.process_time``, all threads) per call-second, frames
per second each client received, and RSS. Prints a table and writes
``loadtests/results/media_forwarding.json``.

    .venv/bin/python loadtests/bench_media_forwarding.py               # 10 calls, 10 s each
    .venv/bin/python loadtests/bench_media_forwarding.py --calls 2     # relay not saturated
    .venv/bin/python loadtests/bench_media_forwarding.py --quick       # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import gc
import importlib.metadata
import json
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media.audio_loop import EncodedAudioLoop  # noqa: E402
from media.encoded_receive import EncodedReceive, receiver_for_track  # noqa: E402
from media.frames import EncodedFrame  # noqa: E402
from media.hub import TrackHub  # noqa: E402
from media.switchable import SwitchableAudioTrack  # noqa: E402
from media.testing import connect, loopback_peer, wait_connected  # noqa: E402

RESULTS = ROOT / "loadtests" / "results" / "media_forwarding.json"
MODES = ("clients", "encoded", "relay")
MAX_CALLS = 200
# Above this share of one core, or below this share of the 50 frames/s each direction
# should carry, the process is the bottleneck: frames are late or lost, and CPU per
# call-second understates the real cost (CPU per received frame does not).
SATURATED_CPU = 0.9
SATURATED_FRAMES = 0.9 * 50


class StereoSilence(AudioStreamTrack):
    """Placeholder with the format of received audio (48 kHz stereo s16).

    aiortc's Opus encoder fixes its resampler on the first frame; the stock silence
    (8 kHz mono) followed by relayed frames would make it fail and drop the track.
    """

    async def recv(self) -> av.AudioFrame:
        if not hasattr(self, "_pts"):
            self._pts = 0
            self._start = time.monotonic()
        else:
            self._pts += 960
            await asyncio.sleep(max(0.0, self._start + self._pts / 48_000 - time.monotonic()))
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.pts = self._pts
        frame.sample_rate = 48_000
        frame.time_base = fractions.Fraction(1, 48_000)
        return frame


class CountingSink:
    """A client's ear: counts encoded frames, decodes nothing."""

    def __init__(self) -> None:
        self.frames = 0
        self.closed = False

    def push(self, frame: EncodedFrame) -> None:
        self.frames += 1

    def close(self) -> None:
        self.closed = True


@dataclass
class Call:
    peers: list[RTCPeerConnection] = field(default_factory=list)
    ears: list[CountingSink] = field(default_factory=list)
    hooks: list[EncodedReceive] = field(default_factory=list)


def client(call: Call, tone: float) -> RTCPeerConnection:
    pc = loopback_peer()
    call.peers.append(pc)
    pc.addTrack(SwitchableAudioTrack(EncodedAudioLoop.tone(tone)))
    ear = CountingSink()
    call.ears.append(ear)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        call.hooks.append(EncodedReceive(receiver_for_track(pc, track), ear))

    return pc


async def answer_with(server: RTCPeerConnection, offerer: RTCPeerConnection, outbound: Any) -> None:
    """The server answers `offerer`, sending `outbound` (attached after the offer arrives)."""
    await offerer.setLocalDescription(await offerer.createOffer())
    await server.setRemoteDescription(offerer.localDescription)
    server.addTrack(outbound)
    await server.setLocalDescription(await server.createAnswer())
    await offerer.setRemoteDescription(server.localDescription)
    await wait_connected(offerer, server)


async def setup_call(mode: str, relay: MediaRelay, customer_tone: float) -> Call:
    call = Call()
    customer, agent = client(call, customer_tone), client(call, customer_tone * 1.5)
    if mode == "clients":
        await connect(customer, agent)
        await wait_connected(customer, agent)
        return call
    server_c, server_a = loopback_peer(), loopback_peer()
    call.peers += [server_c, server_a]
    inbound: dict[RTCPeerConnection, Any] = {}

    def on_server_track(server: RTCPeerConnection) -> None:
        @server.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if mode == "encoded":
                hub = TrackHub("audio")
                call.hooks.append(EncodedReceive(receiver_for_track(server, track), hub))
                inbound[server] = hub
            else:
                inbound[server] = track

    on_server_track(server_c)
    on_server_track(server_a)
    if mode == "encoded":
        to_customer = SwitchableAudioTrack()
        await answer_with(server_c, customer, to_customer)
        await answer_with(server_a, agent, inbound[server_c].forward())
        to_customer.switch(inbound[server_a].forward())
    else:
        # The customer's leg needs a track before the agent's exists: silence, replaced.
        await answer_with(server_c, customer, StereoSilence())
        await answer_with(server_a, agent, relay.subscribe(inbound[server_c]))
        sender = next(s for s in server_c.getSenders() if s.track is not None)
        sender.replaceTrack(relay.subscribe(inbound[server_a]))
    return call


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


async def run_mode(mode: str, calls: int, warmup: float, seconds: float) -> dict[str, Any]:
    relay = MediaRelay()
    setup_started = time.monotonic()
    made = [await setup_call(mode, relay, 300.0 + 10 * i) for i in range(calls)]
    setup_seconds = time.monotonic() - setup_started
    try:
        await asyncio.sleep(warmup)
        frames_before = [ear.frames for call in made for ear in call.ears]
        cpu_before, wall_before = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        frames_after = [ear.frames for call in made for ear in call.ears]
        rss = rss_mb()
    finally:
        for call in made:
            for pc in call.peers:
                await pc.close()
    rates = [(b - a) / wall for a, b in zip(frames_before, frames_after, strict=True)]
    return {
        "calls": calls,
        "setup_seconds": round(setup_seconds, 2),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 3),
        "cpu_share_of_one_core": round(cpu / wall, 3),
        "cpu_seconds_per_call_second": round(cpu / wall / calls, 4),
        "frames_per_second_per_direction": {
            "mean": round(sum(rates) / len(rates), 1),
            "min": round(min(rates), 1),
        },
        # Stays meaningful when a saturated mode delivers fewer frames than it should.
        "cpu_ms_per_received_frame": round(1000 * cpu / max(1.0, sum(rates) * wall), 3),
        "rss_mb_end": round(rss, 1),
        "peak_rss_mb_so_far": round(peak_rss_mb(), 1),
        "saturated": cpu / wall > SATURATED_CPU or min(rates) < SATURATED_FRAMES,
    }


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n{'mode':<9} {'calls':>5} {'CPU/core':>9} {'CPU-s/call-s':>13} "
        f"{'net of clients':>15} {'frames/s':>9} {'min':>6} {'RSS MB':>7}"
    )
    for mode, r in results.items():
        net = r.get("server_cpu_seconds_per_call_second")
        print(
            f"{mode:<9} {r['calls']:>5} {r['cpu_share_of_one_core']:>9.2f} "
            f"{r['cpu_seconds_per_call_second']:>13.4f} "
            f"{'' if net is None else f'{net:.4f}':>15} "
            f"{r['frames_per_second_per_direction']['mean']:>9.1f} "
            f"{r['frames_per_second_per_direction']['min']:>6.1f} {r['rss_mb_end']:>7.1f}"
            + ("  SATURATED" if r["saturated"] else "")
        )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for mode in args.modes:
        print(
            f"[{mode}] {args.calls} calls: set-up, {args.warmup:.0f} s warm-up, "
            f"{args.seconds:.0f} s measured",
            flush=True,
        )
        results[mode] = await run_mode(mode, args.calls, args.warmup, args.seconds)
        gc.collect()
        await asyncio.sleep(0.5)
    clients = results.get("clients")
    for mode in ("encoded", "relay"):
        if clients and mode in results:
            results[mode]["server_cpu_seconds_per_call_second"] = round(
                results[mode]["cpu_seconds_per_call_second"]
                - clients["cpu_seconds_per_call_second"],
                4,
            )
    comparison: dict[str, Any] = {}
    if "encoded" in results and "relay" in results:
        for key in (
            "cpu_seconds_per_call_second",
            "server_cpu_seconds_per_call_second",
            "cpu_ms_per_received_frame",
        ):
            encoded, relay = results["encoded"].get(key), results["relay"].get(key)
            if encoded and relay and encoded > 0:
                comparison[f"relay_over_encoded_{key}"] = round(relay / encoded, 1)
    return {"results": results, "comparison": comparison}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10, help="bidirectional calls (10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (3)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--quick", action="store_true", help="2 calls, 3 s, 1 s warm-up")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.calls, args.seconds, args.warmup = 2, 3.0, 1.0
    if not 1 <= args.calls <= MAX_CALLS:
        parser.error(f"--calls must be between 1 and {MAX_CALLS}")

    measured = asyncio.run(main_async(args))
    print_table(measured["results"])
    for key, ratio in measured["comparison"].items():
        print(f"{key}: {ratio}x")
    notes = []
    if any(r["saturated"] for r in measured["results"].values()):
        notes.append(
            "a saturated mode lost frames and its CPU per call-second is capped by the "
            "core: compare CPU per received frame, or run fewer calls (--calls 2)"
        )
    for note in notes:
        print(f"note: {note}")
    report = {
        "benchmark": "bench_media_forwarding",
        "at": datetime.now(UTC).isoformat(),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "aiortc": _version("aiortc"),
            "av": _version("av"),
            "aioice": _version("aioice"),
        },
        "config": {
            "calls": args.calls,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "modes": args.modes,
            "quick": args.quick,
        },
        **measured,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "notes": notes,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
