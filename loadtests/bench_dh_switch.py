"""Switch benchmark: the digital human to an agent and back, next to an agent-to-agent transfer.

One call (`media.Call`) with aiortc peers on loopback, in one process: a customer, the
digital human's voice (`VoiceOutput` -> `OpusVoiceSource`, the call's bot media, as a
call gets it) and agents whose microphones are steady tones. Each cycle:

* **digital human -> agent**: `connect_agent()` (the agent's answer); the customer is
  switched when the agent's audio reaches the server (make before break);
* **agent -> digital human**: `serve_with(bot)` + `drop_agent()` (what a handback does);
* **agent -> agent** (the baseline, same run): `transfer_to()` another agent, then back.

Two times per switch, measured at the customer's peer (its decoded audio, so its jitter
buffer included): from the **switch** (the instant the server re-sourced the customer's
track: `Call._settle()`, seen by a `CallObserver`) to the first 20 ms frame of the new
source's tone, and from the **command** (the answer / handback / transfer call) to the
same frame, which for an agent includes their leg's ICE + DTLS + first packet. Also the
largest gap between the customer's audio frames over the whole run (no renegotiation:
the customer's peer connection makes one offer).

    .venv/bin/python loadtests/bench_dh_switch.py                # 20 cycles, ~1 min
    .venv/bin/python loadtests/bench_dh_switch.py --cycles 40

Writes ``loadtests/results/bench_dh_switch.json``. The voice is a steady tone rather
than a voice model: the switch is what is measured, not speech synthesis.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from media.assets import CallAssets  # noqa: E402
from media.audio_loop import EncodedAudioLoop  # noqa: E402
from media.call import BotMedia, Call  # noqa: E402
from media.digital_human.encoded import OpusVoiceSource  # noqa: E402
from media.digital_human.voice import VoiceOutput  # noqa: E402
from media.speech.pcm import ChunkCutter  # noqa: E402
from media.speech.ports import SAMPLE_RATE, AudioChunk  # noqa: E402
from media.testing import (  # noqa: E402
    LOOPBACK,
    LoopbackClient,
    SineTrack,
    heard_from,
)

GOAL_SWITCH_P99_MS = 150.0
VOICE, ANNA, BEN, QUEUE = 440.0, 880.0, 660.0, 220.0
RESULTS = ROOT / "loadtests" / "results" / "bench_dh_switch.json"


class ToneVoice:
    """A `TextToSpeech` that says anything as a steady 440 Hz tone, a second a word."""

    name = "tone"

    async def synthesize(self, text: str) -> AsyncGenerator[AudioChunk, None]:
        second = 0.3 * np.sin(2 * np.pi * VOICE * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
        pcm = (second * 32767).astype(np.int16)
        cutter = ChunkCutter()
        for _ in text.split():
            for chunk in cutter.cut(pcm):
                yield chunk
            await asyncio.sleep(0)

    async def aclose(self) -> None:
        return None


class Switches:
    """A `CallObserver`: when the customer's source changed, and to whom."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self.changes: list[tuple[float, str]] = []

    def media_changed(self) -> None:
        agent = self._call.agent_id
        who = agent if agent is not None else ("bot" if self._call.bot is not None else "queue")
        if not self.changes or self.changes[-1][1] != who:
            self.changes.append((time.monotonic(), who))

    async def call_ending(self) -> None:
        return None

    def since(self, who: str, after: float) -> float:
        for at, changed_to in self.changes:
            if at >= after and changed_to == who:
                return at
        raise RuntimeError(f"never switched to {who}")


async def agent_leg(
    call: Call, agent: str, tone: float, *, transfer: bool
) -> tuple[LoopbackClient, float]:
    peer = LoopbackClient(audio=SineTrack(tone))
    offer = await peer.offer()
    commanded = time.monotonic()
    answer = await (call.transfer_to if transfer else call.connect_agent)(agent, offer)
    await peer.accept(answer)
    return peer, commanded


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(pct(99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


async def run(cycles: int, pause: float) -> dict[str, Any]:
    assets = CallAssets.build(queue=EncodedAudioLoop.tone(QUEUE, 1.0))
    call = Call("bench", "conversation", ice=LOOPBACK, assets=assets)
    switches = Switches(call)
    call.add_observer(switches)
    customer = LoopbackClient(audio=SineTrack(300.0))
    voice = VoiceOutput(ToneVoice())
    voice.say(" ".join(["word"] * 100_000))
    bot = BotMedia(OpusVoiceSource(voice))
    samples: dict[str, dict[str, list[float]]] = {
        kind: {"switch": [], "command": []}
        for kind in ("digital_human_to_agent", "agent_to_digital_human", "agent_to_agent")
    }
    peers: list[LoopbackClient] = [customer]

    def record(kind: str, commanded: float, switched: float, heard: float) -> None:
        samples[kind]["switch"].append(heard - switched)
        samples[kind]["command"].append(heard - commanded)

    try:
        await customer.accept(await call.connect_customer(await customer.offer()))
        call.serve_with(bot)
        began = await heard_from(customer, VOICE, 0.0, 10.0, poll=0.005)
        for _ in range(cycles):
            # The digital human to Anna (her answer), then the baseline: Anna to Ben and
            # back to Anna (transfers), then Anna hands back to the digital human.
            anna, commanded = await agent_leg(call, "anna", ANNA, transfer=False)
            peers.append(anna)
            heard = await heard_from(customer, ANNA, commanded, 10.0, poll=0.005)
            record("digital_human_to_agent", commanded, switches.since("anna", commanded), heard)
            await asyncio.sleep(pause)
            for agent, tone in (("ben", BEN), ("anna", ANNA)):
                peer, commanded = await agent_leg(call, agent, tone, transfer=True)
                peers.append(peer)
                heard = await heard_from(customer, tone, commanded, 10.0, poll=0.005)
                record("agent_to_agent", commanded, switches.since(agent, commanded), heard)
                await asyncio.sleep(pause)
            commanded = time.monotonic()
            call.serve_with(bot)
            await call.drop_agent("handback")
            heard = await heard_from(customer, VOICE, commanded, 10.0, poll=0.005)
            record("agent_to_digital_human", commanded, switches.since("bot", commanded), heard)
            await asyncio.sleep(pause)
            for peer in peers[1:]:
                await peer.close()
            del peers[1:]
        ended = time.monotonic()
        arrivals = [t for t in customer.arrivals("audio", began) if t < ended]
        gap = max(b - a for a, b in itertools.pairwise(arrivals))
        offers = customer.offers
        summary = call.stats()
    finally:
        await call.end("bench")
        await voice.aclose()
        for peer in peers:
            await peer.close()
    return {
        "cycles": cycles,
        "results": {
            kind: {which: stats(values) for which, values in measured.items()}
            for kind, measured in samples.items()
        },
        "customer_largest_gap_ms": round(gap * 1000, 1),
        "customer_offers": offers,
        "customer_audio_track": summary["legs"]["customer"],
    }


def report(result: dict[str, Any]) -> None:
    print(
        f"\n{result['cycles']} cycles; customer's peer made {result['customer_offers']} offer(s);"
    )
    print(
        f"largest gap between the customer's audio frames: {result['customer_largest_gap_ms']} ms\n"
    )
    print(f"{'switch':<28}{'server switch -> heard':>28}{'command -> heard':>26}")
    print(f"{'':<28}{'p50 / p99 / max ms':>28}{'p50 / p99 / max ms':>26}")
    for kind, measured in result["results"].items():
        s, c = measured["switch"], measured["command"]
        print(
            f"{kind:<28}{s['p50_ms']:>12} / {s['p99_ms']} / {s['max_ms']:<8}"
            f"{c['p50_ms']:>10} / {c['p99_ms']} / {c['max_ms']}"
        )
    worst = max(m["switch"]["p99_ms"] for m in result["results"].values())
    verdict = "met" if worst <= GOAL_SWITCH_P99_MS else "NOT met"
    print(
        f"\ngoal: media switch p99 <= {GOAL_SWITCH_P99_MS:.0f} ms: {verdict} (worst p99 {worst} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20, help="switch cycles (20)")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds after each switch")
    args = parser.parse_args()
    result = asyncio.run(run(args.cycles, args.pause))
    result.update(
        {
            "benchmark": "bench_dh_switch",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "goal_switch_p99_ms": GOAL_SWITCH_P99_MS,
        }
    )
    report(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
