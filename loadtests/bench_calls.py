"""Call benchmark: N concurrent bidirectional calls through Tandem vs a bare aiortc MediaRelay.

Separate OS processes, in one run: the server under test (on a free loopback port) and
the endpoints, spread over several processes (`call_endpoints.py`, ``--endpoint-procs``)
so that they are not what limits the run. Two servers, driven by the same endpoints:

* ``bare``: `bare_media_relay.py`, aiortc's stock `MediaRelay` between the two peers of
  each call (stock receivers decode, each sender re-encodes): the baseline;
* ``tandem``: ``python -m gateway serve --demo``, driven through the real protocol
  (``TANDEM_AGENT_CAPACITY=1``: one call per agent, which also keeps the router from
  crossing the benchmark's pairs; ``TANDEM_UNDERSTANDING=false``: the bot's intent model,
  built on a worker thread after start-up, would otherwise be counted as call CPU).

Per server, one after the other on the same server process:

1. **audio**: calls of pre-encoded Opus both ways (bare: a ramp of ``--bare-calls``, as
   it saturates early; Tandem: ``--calls``, 10 and 25). Over ``--seconds``: server CPU-s
   per call-second, frames/s at the endpoints (all, and the other party's own payloads),
   the largest gap, ``GET /healthz`` every 100 ms (the loop-lag probe), server RSS, the
   endpoint processes' CPU. Tandem also: the one-way latency of every packet against
   ``--direct-pairs`` peer pairs connected straight to each other in the same window
   (the difference is what the server adds), and the switch time (the agent holds and
   unholds each call ``--switch-cycles`` times; at the customer, the first packet of the
   new source after the ack);
2. **video**: the same with VP8 (640x360 at ``--fps``, pre-encoded) plus Opus;
3. **overload**: ``--overload`` x the largest audio run, RSS sampled each second (flat or
   not).

Prints a table with the goals of issue 5 next to the figures and writes
``loadtests/results/bench_calls.json``. Servers and endpoints are stopped (SIGTERM, then
SIGKILL) on success, error and Ctrl-C.

    .venv/bin/python loadtests/bench_calls.py                       # the full run, ~3 min
    .venv/bin/python loadtests/bench_calls.py --quick               # smoke run, ~1 min
    .venv/bin/python loadtests/bench_calls.py --targets tandem --media audio --calls 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from processes import stop_process

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
RESULTS = RESULTS_DIR / "bench_calls.json"
TARGETS = ("bare", "tandem")
MEDIA = ("audio", "video")
# The goals of issue 5, shown next to the figures.
GOAL_RATIO = 8.0
GOAL_CALLS = 25
GOAL_SWITCH_P99_MS = 150.0
GOAL_LATENCY_MS = 100.0
AUDIO_FPS = 50.0
# "At 50 frames/s": a run keeps full rate when every receiving peer got at least this.
FULL_SHARE = 0.9
CALLS_PER_PROCESS = 10
# Other processes using more than this many cores during a window make it noisy.
NOISY_OTHERS = 0.3
# The server's event loop waiting for a CPU more than this share of a window: starved.
STARVED = 0.1


class BenchError(RuntimeError):
    pass


# ------------------------------------------------------------------ server processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_wait_seconds(pid: int) -> float:
    """Time the process's main thread (the event loop) spent runnable but not running."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_busy_seconds() -> float:
    """CPU-seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, name: str, cmd: list[str], port: int, env: dict[str, str]) -> None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = RESULTS_DIR / f"bench_calls_{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, not it: we stop it ourselves
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1.0) as r:
                    if r.status == 200:
                        return
                    last = f"HTTP {r.status}"
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
            time.sleep(0.1)
        raise BenchError(f"{self.name} not ready within {timeout:.0f} s ({last})")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} died during the run:\n{self.log_tail()}")

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


def start_server(name: str, recordings: Path, *, transcripts: bool = False) -> Server:
    port = free_port()
    if name == "bare":
        cmd = [sys.executable, str(HERE / "bare_media_relay.py"), "--port", str(port)]
        env: dict[str, str] = {}
    else:
        cmd = [
            sys.executable, "-m", "gateway", "serve", "--demo",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING",
        ]  # fmt: skip
        env = {
            "TANDEM_OFFER_TIMEOUT_SECONDS": "30",
            "TANDEM_WRAP_UP_SECONDS": "0",
            "TANDEM_AGENT_CAPACITY": "1",
            # The bot's intent model is built or loaded on a worker thread after start-up
            # (tens of CPU-seconds when its cache is cold): it would be counted as the
            # calls' CPU. Calls do not use it; the bot falls back on its knowledge search.
            "TANDEM_UNDERSTANDING": "false",
            # Live transcription decodes and runs speech detection on every party's audio:
            # a feature with a cost of its own (``--transcripts`` measures it), not the relay.
            "TANDEM_TRANSCRIPTS": "true" if transcripts else "false",
            "TANDEM_CALLS_FIRST": "queue",
            "TANDEM_RECORDINGS_DIR": str(recordings),
        }
    print(f"[{name}] starting: {' '.join(cmd)}", flush=True)
    server = Server(name, cmd, port, env)
    server.wait_ready()
    return server


# --------------------------------------------------------------- endpoint processes


@dataclass
class Endpoint:
    """One `call_endpoints.py` process and its JSON-lines pipe."""

    proc: asyncio.subprocess.Process
    calls: int

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def receive(self, key: str, within: float) -> Any:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        if not line:
            raise BenchError(
                f"endpoint process {self.proc.pid} exited ({await self.proc.wait()}); "
                f"see {RESULTS_DIR / 'bench_calls_endpoints.log'}"
            )
        message = json.loads(line)
        if key not in message:
            raise BenchError(f"endpoint process {self.proc.pid} said {message}, not {key!r}")
        return message[key] if key != "ready" else message

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


async def ask(endpoints: list[Endpoint], message: dict[str, Any], key: str, within: float) -> Any:
    await asyncio.gather(*(e.send(message) for e in endpoints))
    return await asyncio.gather(*(e.receive(key, within) for e in endpoints))


def split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass(frozen=True)
class Plan:
    """One measured phase."""

    label: str
    target: str
    media: str
    calls: int
    procs: int
    seconds: float
    direct_pairs: int = 0
    switch_cycles: int = 0
    overload: bool = False


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.lock = workdir / "routing.lock"
        self.video_loop = workdir / "video.vp8s"
        self.endpoint_log = open(RESULTS_DIR / "bench_calls_endpoints.log", "ab")  # noqa: SIM115
        self.run_tag = os.urandom(4).hex()
        self.phases = 0

    def close(self) -> None:
        self.endpoint_log.close()

    async def spawn(self, server: Server, plan: Plan) -> list[Endpoint]:
        endpoints = []
        for i, calls in enumerate(split(plan.calls, plan.procs)):
            self.phases += 1
            cmd = [
                sys.executable, str(HERE / "call_endpoints.py"),
                "--target", plan.target, "--url", server.url, "--media", plan.media,
                "--calls", str(calls), "--direct-pairs", str(plan.direct_pairs),
                "--tag", f"{self.run_tag}-{self.phases}", "--lock", str(self.lock),
                "--seed", str(2 * i + 1), "--fps", str(self.args.fps),
                "--video-loop", str(self.video_loop),
            ]  # fmt: skip
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=self.endpoint_log,
                start_new_session=True,
                limit=1 << 26,  # a measurement line carries every latency sample
            )
            endpoints.append(Endpoint(proc, calls))
        return endpoints

    async def run(self, server: Server, plan: Plan) -> dict[str, Any]:
        print(
            f"[{plan.target}] {plan.label}: {plan.calls} {plan.media} calls over "
            f"{len(split(plan.calls, plan.procs))} endpoint processes",
            flush=True,
        )
        endpoints = await self.spawn(server, plan)
        began = time.monotonic()
        try:
            result = await self._drive(server, plan, endpoints)
            result["phase_seconds"] = round(time.monotonic() - began, 1)
            return result
        finally:
            with contextlib.suppress(Exception):
                await ask(endpoints, {"cmd": "quit"}, "bye", 30 + plan.calls)
            await asyncio.gather(*(e.stop() for e in endpoints))

    async def _drive(self, server: Server, plan: Plan, endpoints: list[Endpoint]) -> dict[str, Any]:
        setup_budget = 60 + 2 * plan.calls
        readies = await asyncio.gather(*(e.receive("ready", setup_budget) for e in endpoints))
        failures = [f for r in readies for f in r["failures"]]
        calls = sum(r["calls"] for r in readies)
        server.check_alive()
        if not calls:
            raise BenchError(f"no call could be set up: {failures[:3]}")
        await asyncio.sleep(self.args.warmup)

        pids = [e.proc.pid for e in endpoints]
        async with aiohttp.ClientSession() as http:
            stop = asyncio.Event()
            lags: list[float] = []
            rss: list[float] = []
            probes = [
                asyncio.create_task(probe(http, server.url, lags, stop)),
                asyncio.create_task(sample_rss(server.pid, rss, stop)),
            ]
            try:
                cpu0, ends0 = proc_cpu_seconds(server.pid), [proc_cpu_seconds(p) for p in pids]
                busy0, mine0 = machine_busy_seconds(), own_cpu_seconds()
                waited0 = run_queue_wait_seconds(server.pid)
                began = time.monotonic()
                measured = await ask(
                    endpoints,
                    {"cmd": "measure", "seconds": plan.seconds},
                    "measured",
                    plan.seconds + 30,
                )
                wall = time.monotonic() - began
                cpu = proc_cpu_seconds(server.pid) - cpu0
                ends = [proc_cpu_seconds(p) - c for p, c in zip(pids, ends0, strict=True)]
                # What the rest of the machine used meanwhile (other work shares the cores).
                others = (machine_busy_seconds() - busy0) - cpu - sum(ends)
                others -= own_cpu_seconds() - mine0
                waited = run_queue_wait_seconds(server.pid) - waited0
            finally:
                stop.set()
                await asyncio.gather(*probes)
        server.check_alive()
        result = summarise(plan, calls, failures, readies, measured, wall, cpu, ends, lags, rss)
        result["other_processes_cpu_share"] = round(max(0.0, others) / wall, 2)
        # Above a few per cent the server was short of CPU because the machine was.
        result["server_loop_waiting_for_a_cpu_share"] = round(waited / wall, 2)
        if plan.switch_cycles:
            replies = await ask(
                endpoints,
                {"cmd": "switch", "cycles": plan.switch_cycles, "pause": self.args.switch_pause},
                "switches",
                60 + 10 * plan.switch_cycles,
            )
            result["switch"] = summarise_switches(replies)
        return result


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


async def sample_rss(pid: int, into: list[float], stop: asyncio.Event) -> None:
    while True:
        into.append(round(proc_rss_mb(pid), 1))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set():
            into.append(round(proc_rss_mb(pid), 1))
            return


# ------------------------------------------------------------------------ figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def spread(values: list[float], scale: float = 1.0, digits: int = 1) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(scale * percentile(values, 0.5), digits),
        "p99": round(scale * percentile(values, 0.99), digits),
        "max": round(scale * max(values), digits),
    }


def rates(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "min": 0.0}
    return {"mean": round(statistics.fmean(values), 1), "min": round(min(values), 1)}


def summarise(
    plan: Plan,
    calls: int,
    failures: list[str],
    readies: list[dict[str, Any]],
    measured: list[dict[str, Any]],
    wall: float,
    cpu: float,
    ends: list[float],
    lags: list[float],
    rss: list[float],
) -> dict[str, Any]:
    def pooled(group: str, field: str) -> list[float]:
        return [x for m in measured for x in m.get(group, {}).get(field, [])]

    out: dict[str, Any] = {
        "label": plan.label,
        "media": plan.media,
        "calls_asked": plan.calls,
        "calls": calls,
        "calls_dropped_by_the_end": sum(m["calls_dropped"] for m in measured),
        "failures": failures,
        "setup_seconds_max": max(r["setup_seconds"] for r in readies),
        "endpoint_processes": len(readies),
        "wall_seconds": round(wall, 2),
        "server_cpu_seconds": round(cpu, 3),
        "server_cpu_share_of_one_core": round(cpu / wall, 3),
        "server_cpu_seconds_per_call_second": round(cpu / wall / calls, 4),
        "endpoint_cpu_share_of_one_core": [round(c / wall, 3) for c in ends],
        "endpoint_cpu_share_total": round(sum(ends) / wall, 3),
        "healthz_ms": spread(lags, 1000),
        "server_rss_mb": {"start": rss[0], "end": rss[-1], "max": max(rss), "series": rss},
    }
    for kind in ("audio", "video"):
        fps = pooled(f"calls_{kind}", "fps")
        if not fps:
            continue
        matched = pooled(f"calls_{kind}", "matched_fps")
        gaps = pooled(f"calls_{kind}", "max_gap")
        out[kind] = {
            "fps": rates(fps),
            # The other party's own payloads (Tandem forwards them unchanged; the bare
            # relay re-encodes, so nothing matches there).
            "forwarded_fps": rates(matched) if any(matched) else None,
            "max_gap_ms": round(1000 * max(gaps)),
        }
    lat = pooled("calls_audio", "latencies")
    if lat:
        direct = pooled("direct_audio", "latencies")
        latency: dict[str, Any] = {
            "through_server_ms": spread(lat, 1000),
            "direct_ms": spread(direct, 1000),
        }
        if direct:
            latency["server_added_ms"] = {
                q: round(1000 * (percentile(lat, p) - percentile(direct, p)), 1)
                for q, p in (("p50", 0.5), ("p99", 0.99))
            }
        out["latency"] = latency
    return out


def summarise_switches(replies: list[dict[str, Any]]) -> dict[str, Any]:
    samples = [s for r in replies for s in r["samples"]]
    missed = [m for r in replies for m in r["missed"]]
    from_ack = [max(0.0, s["from_ack"]) for s in samples]
    return {
        "switches": len(samples),
        "missed": len(missed),
        "missed_examples": missed[:5],
        # The new source reached the customer before the ack reached the agent (counted 0).
        "heard_before_ack": sum(1 for s in samples if s["from_ack"] < 0),
        "from_ack_ms": spread(from_ack, 1000),
        "from_command_ms": spread([s["from_send"] for s in samples], 1000),
        "ack_ms": spread([s["ack"] for s in samples], 1000),
        "by_command": {
            command: spread(
                [max(0.0, s["from_ack"]) for s in samples if s["command"] == command], 1000
            )
            for command in ("call.hold", "call.unhold")
        },
    }


def full_rate(run: dict[str, Any]) -> bool:
    """Every receiving peer got at least 90 % of the frames sent to it, from the sender."""
    audio = run.get("audio")
    if audio is None:
        return False
    fps = audio["forwarded_fps"] or audio["fps"]
    ok = fps["min"] >= FULL_SHARE * AUDIO_FPS
    if run["media"] == "video":
        video = run.get("video") or {}
        vfps = video.get("forwarded_fps") or video.get("fps") or {"min": 0.0}
        ok = ok and vfps["min"] >= FULL_SHARE * run["video_fps_sent"]
    return ok and not run["failures"]


def capacity(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls per core at full rate (1 / CPU-s per call-second of the largest full-rate
    run) and the largest number of calls that kept full rate."""
    full = [r for r in runs if full_rate(r)]
    if not full:
        smallest = min(runs, key=lambda r: r["calls"]) if runs else None
        return {
            "largest_full_rate_calls": 0,
            "calls_per_core": None,
            "note": "no run kept full rate "
            f"(smallest: {smallest['calls'] if smallest else '-'} calls)",
        }
    best = max(full, key=lambda r: r["calls"])
    return {
        "largest_full_rate_calls": best["calls"],
        "cpu_seconds_per_call_second": best["server_cpu_seconds_per_call_second"],
        "calls_per_core": round(1 / best["server_cpu_seconds_per_call_second"], 1),
        "from_run": best["label"],
    }


def compare(results: dict[str, Any], media: str) -> dict[str, Any]:
    # The overload run counts too when it kept full rate (it is audio).
    runs = {
        t: results.get(t, {}).get(media, [])
        + (results.get(t, {}).get("overload", []) if media == "audio" else [])
        for t in TARGETS
    }
    out = {t: capacity(r) for t, r in runs.items() if r}
    bare, tandem = out.get("bare", {}), out.get("tandem", {})
    if bare.get("calls_per_core") and tandem.get("calls_per_core"):
        out["tandem_over_bare_calls_per_core"] = round(
            tandem["calls_per_core"] / bare["calls_per_core"], 1
        )
    return out


# ------------------------------------------------------------------------ reporting


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "NOT met")


def print_table(results: dict[str, Any], comparisons: dict[str, Any]) -> None:
    print(
        f"\n{'server':<7} {'run':<16} {'calls':>5} {'CPU/core':>8} {'CPU-s/call-s':>12} "
        f"{'audio fps mean/min':>18} {'fwd min':>7} {'video fps':>10} {'gap ms':>6} "
        f"{'healthz p50/p99 ms':>18} {'RSS MB start->end':>17} {'endpoints CPU':>13} {'others':>6} "
        f"{'starved':>7}"
    )
    for target in TARGETS:
        for media in (*MEDIA, "overload"):
            for r in results.get(target, {}).get(media, []):
                audio, video = r.get("audio") or {}, r.get("video") or {}
                fwd = (audio.get("forwarded_fps") or {}).get("min")
                vfps = video.get("forwarded_fps") or video.get("fps")
                h, rss = r["healthz_ms"], r["server_rss_mb"]
                vtext = f"{vfps['mean']:.1f}/{vfps['min']:.1f}" if vfps else "-"
                ftext = "-" if fwd is None else f"{fwd:.1f}"
                htext = f"{h.get('p50')}/{h.get('p99')}"
                print(
                    f"{target:<7} {r['label']:<16} {r['calls']:>5} "
                    f"{r['server_cpu_share_of_one_core']:>8.2f} "
                    f"{r['server_cpu_seconds_per_call_second']:>12.4f} "
                    f"{audio['fps']['mean']:>9.1f}/{audio['fps']['min']:<8.1f} "
                    f"{ftext:>7} {vtext:>10} "
                    f"{max(audio['max_gap_ms'], video.get('max_gap_ms', 0)):>6} "
                    f"{htext:>18} "
                    f"{rss['start']}->{rss['end']:<9} "
                    f"{r['endpoint_cpu_share_total']:>6.2f} "
                    f"({len(r['endpoint_cpu_share_of_one_core'])}p)"
                    f" {r['other_processes_cpu_share']:>6.2f}"
                    f" {r['server_loop_waiting_for_a_cpu_share']:>7.2f}"
                    + ("" if full_rate(r) else "  FRAMES LOST")
                    + (f"  {len(r['failures'])} set-up failures" if r["failures"] else "")
                    + (
                        f"  {r['calls_dropped_by_the_end']} calls dropped"
                        if r["calls_dropped_by_the_end"]
                        else ""
                    )
                )
    print(
        "(fwd min: the slowest receiving peer's rate of the other party's own payloads; "
        "others: CPU of other processes on the machine meanwhile, in cores: above ~0.3 the "
        "run shared the machine and rates/latencies are noisy; CPU-s figures much less so; "
        "starved: share of the window the server's event loop was ready to run but waited "
        "for a CPU: above ~0.1 its lag and losses are the machine's)"
    )
    print("\nGoals (issue 5):")
    audio = comparisons.get("audio", {})
    bare, tandem = audio.get("bare", {}), audio.get("tandem", {})
    ratio = audio.get("tandem_over_bare_calls_per_core")
    print(
        f"  calls per core at 50 frames/s: Tandem {tandem.get('calls_per_core')} "
        f"(largest full-rate run {tandem.get('largest_full_rate_calls')} calls), bare "
        f"{bare.get('calls_per_core')} (largest full-rate run "
        f"{bare.get('largest_full_rate_calls')} calls) -> {ratio}x; goal >= {GOAL_RATIO:.0f}x: "
        f"{verdict(None if ratio is None else ratio >= GOAL_RATIO)}"
    )
    largest = tandem.get("largest_full_rate_calls")
    print(
        f"  calls in one Tandem process at full rate: {largest}; goal >= {GOAL_CALLS}: "
        f"{verdict(None if largest is None else largest >= GOAL_CALLS)}"
    )
    for r in results.get("tandem", {}).get("audio", []):
        if "switch" in r:
            s = r["switch"]
            p99 = s["from_ack_ms"].get("p99")
            print(
                f"  switch ({r['calls']} calls; hold/unhold, ack -> the new source's first "
                f"packet at the customer): p50 {s['from_ack_ms'].get('p50')} ms, p99 {p99} ms "
                f"over {s['switches']} switches ({s['missed']} missed, "
                f"{s['heard_before_ack']} heard before the ack); goal p99 <= "
                f"{GOAL_SWITCH_P99_MS:.0f} ms: "
                f"{verdict(None if p99 is None else p99 <= GOAL_SWITCH_P99_MS and not s['missed'])}"
            )
        if "latency" in r and "server_added_ms" in r["latency"]:
            lat = r["latency"]
            added = lat["server_added_ms"]
            print(
                f"  server-added one-way latency ({r['calls']} calls): p50 {added['p50']} ms, "
                f"p99 {added['p99']} ms (through Tandem p50/p99 "
                f"{lat['through_server_ms']['p50']}/{lat['through_server_ms']['p99']} ms, direct "
                f"{lat['direct_ms']['p50']}/{lat['direct_ms']['p99']} ms); goal <= "
                f"{GOAL_LATENCY_MS:.0f} ms: {verdict(added['p99'] <= GOAL_LATENCY_MS)} (p99)"
            )
    for target in TARGETS:
        for r in results.get(target, {}).get("overload", []):
            growth = r.get("rss_growth_mb_per_s_second_half")
            print(
                f"  RSS under overload ({target}, {r['calls']} calls): "
                f"{r['server_rss_mb']['start']} -> {r['server_rss_mb']['end']} MB, "
                f"second half {growth:+} MB/s"
                + (" (flat)" if growth is not None and abs(growth) < 0.5 else " (GROWING)")
            )
    noisy = [
        f"{target} {r['label']} ({r['other_processes_cpu_share']})"
        for target in TARGETS
        for phase in (*MEDIA, "overload")
        for r in results.get(target, {}).get(phase, [])
        if r.get("other_processes_cpu_share", 0) > NOISY_OTHERS
        or r.get("server_loop_waiting_for_a_cpu_share", 0) > STARVED
    ]
    if noisy:
        print(
            f"  NOTE: other processes used more than {NOISY_OTHERS} of a core, or the server "
            f"waited for a CPU more than {STARVED:.0%} of the time, during: "
            f"{', '.join(noisy)}; rates and latencies of those runs say more about the "
            "machine than about the server"
        )
    video = comparisons.get("video", {})
    if video:
        print(
            f"  video (reported, no goal): calls per core Tandem "
            f"{video.get('tandem', {}).get('calls_per_core')}, bare "
            f"{video.get('bare', {}).get('calls_per_core')} -> "
            f"{video.get('tandem_over_bare_calls_per_core')}x"
        )


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _sigterm(*_: object) -> None:
    raise KeyboardInterrupt  # unwinds through the `finally`s that stop the processes


def plans(args: argparse.Namespace, target: str) -> list[Plan]:
    def procs(calls: int) -> int:
        return args.endpoint_procs or max(1, math.ceil(calls / CALLS_PER_PROCESS))

    out: list[Plan] = []
    if "audio" in args.media:
        ramp = args.bare_calls if target == "bare" else args.calls
        for n in ramp:
            tandem = target == "tandem"
            out.append(
                Plan(
                    f"audio {n}",
                    target,
                    "audio",
                    n,
                    procs(n),
                    args.seconds,
                    direct_pairs=args.direct_pairs if tandem else 0,
                    switch_cycles=args.switch_cycles if tandem else 0,
                )
            )
    if "video" in args.media:
        ramp = args.bare_video_calls if target == "bare" else [args.video_calls]
        for n in ramp:
            out.append(Plan(f"video {n}", target, "video", n, procs(2 * n), args.seconds))
    if args.overload > 1 and "audio" in args.media:
        base = max(args.bare_calls if target == "bare" else args.calls)
        n = args.overload * base
        out.append(
            Plan(
                f"overload {n}", target, "audio", n, procs(n), args.overload_seconds, overload=True
            )
        )
    return out


async def run_target(bench: Bench, target: str, recordings: Path) -> dict[str, Any]:
    server = start_server(target, recordings, transcripts=bench.args.transcripts)
    out: dict[str, Any] = {"errors": []}
    try:
        for plan in plans(bench.args, target):
            key = "overload" if plan.overload else plan.media
            try:
                result = await bench.run(server, plan)
            except BenchError as error:
                out["errors"].append(f"{plan.label}: {error}")
                print(f"[{target}] {plan.label} FAILED: {error}", file=sys.stderr, flush=True)
                server.check_alive()
                continue
            if plan.media == "video":
                result["video_fps_sent"] = bench.args.fps
            if plan.overload:
                series = result["server_rss_mb"]["series"]
                half = len(series) // 2
                # Flat: the second half's growth (MB/s), where a leaking queue would show.
                result["rss_growth_mb_per_s_second_half"] = round(
                    (series[-1] - series[half]) / max(1, len(series) - 1 - half), 2
                )
            out.setdefault(key, []).append(result)
    finally:
        server.stop()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        workdir = Path(tmp)
        if "video" in args.media:
            sys.path.insert(0, str(HERE))
            from call_endpoints import vp8_loop, write_loop

            write_loop(workdir / "video.vp8s", vp8_loop(640, 360, args.fps))
        bench = Bench(args, workdir)
        try:
            for target in args.targets:
                try:
                    results[target] = await run_target(bench, target, workdir)
                except BenchError as error:
                    results[target] = {"errors": [str(error)]}
                    print(f"[{target}] FAILED: {error}", file=sys.stderr, flush=True)
        finally:
            bench.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls", type=int, nargs="+", default=[10, 25], help="Tandem audio calls (10 25)"
    )
    parser.add_argument(
        "--bare-calls", type=int, nargs="+", default=[1, 2, 4], help="bare audio ramp (1 2 4)"
    )
    parser.add_argument("--video-calls", type=int, default=6, help="Tandem video calls (6)")
    parser.add_argument(
        "--bare-video-calls", type=int, nargs="+", default=[1], help="bare video ramp (1)"
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds (6)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--overload", type=int, default=2, help="overload factor x calls (2)")
    parser.add_argument("--overload-seconds", type=float, default=8.0, help="(8)")
    parser.add_argument("--switch-cycles", type=int, default=2, help="hold+unhold per call (2)")
    parser.add_argument("--switch-pause", type=float, default=0.3, help="seconds between (0.3)")
    parser.add_argument("--direct-pairs", type=int, default=1, help="per endpoint process (1)")
    parser.add_argument(
        "--endpoint-procs", type=int, default=0, help=f"(default: 1 per {CALLS_PER_PROCESS} calls)"
    )
    parser.add_argument("--fps", type=int, default=15, help="video frames/s (15), 640x360")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--media", nargs="+", choices=MEDIA, default=list(MEDIA))
    parser.add_argument("--quick", action="store_true", help="smoke run: few calls, short")
    parser.add_argument(
        "--transcripts", action="store_true", help="Tandem transcribes every call (off)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.bare_calls, args.video_calls, args.bare_video_calls = [4], [1], 2, [1]
        args.seconds, args.overload_seconds, args.switch_cycles = 3.0, 4.0, 1
    if not all(1 <= n <= 200 for n in args.calls) or not 1 <= args.video_calls <= 100:
        parser.error("--calls must be between 1 and 200, --video-calls between 1 and 100")
    signal.signal(signal.SIGTERM, _sigterm)
    began = time.monotonic()
    results = asyncio.run(main_async(args))
    comparisons = {media: compare(results, media) for media in args.media}
    errors = [f"{t}: {e}" for t, r in results.items() for e in r.get("errors", [])]
    print_table(results, comparisons)
    for error in errors:
        print(f"  ERROR {error.splitlines()[0]}")
    report = {
        "benchmark": "bench_calls",
        "at": datetime.now(UTC).isoformat(),
        "duration_seconds": round(time.monotonic() - began, 1),
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "aiortc": _version("aiortc"),
            "av": _version("av"),
            "aioice": _version("aioice"),
        },
        "config": {k: v for k, v in vars(args).items() if k != "output"},
        "goals": {
            "tandem_over_bare_calls_per_core": GOAL_RATIO,
            "calls_in_one_process_at_full_rate": GOAL_CALLS,
            "switch_p99_ms": GOAL_SWITCH_P99_MS,
            "server_added_one_way_latency_ms": GOAL_LATENCY_MS,
        },
        "results": results,
        "comparison": comparisons,
        "errors": errors,
        "notes": [
            "healthz latency is loopback HTTP from the benchmark process: its rise with load "
            "is the server's event-loop lag",
            "fps counts every frame a peer received; forwarded_fps only the other party's own "
            "payloads (Tandem fills a late packet with silence, so its fps stays at 50)",
            "server-added latency: percentile through the server minus the same percentile "
            "of direct peer pairs measured in the same window in the same processes",
            "endpoint CPU near 1.0 per process means that process, not the server, limits "
            "frames/s; all processes share the machine's cores",
            "other_processes_cpu_share: CPU the rest of the machine used during the window "
            "(other work on a shared box); rates and latencies are noisy when it is high",
            "server_loop_waiting_for_a_cpu_share: from /proc/<pid>/schedstat, the share of "
            "the window the server's main thread was runnable but not running (no free "
            "CPU); when it is high the server's lag and losses come from the machine",
        ],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {args.output} ({report['duration_seconds']} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
