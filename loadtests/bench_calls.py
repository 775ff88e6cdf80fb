"""Call benchmark: N bidirectional audio calls through Tandem vs a bare aiortc MediaRelay.

Separate OS processes, in one run: the server under test (on a free loopback port) and
the endpoints (`loadtests/call_endpoints.py`: a customer and an agent aiortc peer per
call, sending pre-encoded Opus tones, counting received frames without decoding). Two
servers, driven by the same endpoint code:

* ``bare``: this file run with ``--serve-bare``: a minimal aiohttp app whose ``POST /call``
  takes both parties' offers and answers them, relaying each party's track to the other
  with aiortc's stock ``MediaRelay`` (stock receivers decode, each sender re-encodes). The
  baseline: what "just use aiortc" costs;
* ``tandem``: ``python -m gateway serve --demo`` (no recording is asked for), driven
  through the real protocol (demo login, conversation.start, agent ready,
  agent.request/offer.accept, call.start, call.incoming, call.answer, call.hangup).

For each: N calls measured (server CPU-s per call-second, frames/s per direction at the
endpoints, the largest inter-frame gap, /healthz latency every 100 ms as the loop-lag
probe, server RSS), then an overload of ``--overload`` x N calls on the same server
process with RSS sampled each second (flat or growing). Prints a table with both servers
and the ratio of calls per core (CPU per call-second, bare / Tandem); writes
``loadtests/results/bench_calls.json``. Servers are stopped (SIGTERM, then SIGKILL) on
success, error and Ctrl-C.

    .venv/bin/python loadtests/bench_calls.py                 # 10 calls, overload 30
    .venv/bin/python loadtests/bench_calls.py --calls 4 --seconds 5 --overload 2
    .venv/bin/python loadtests/bench_calls.py --targets tandem --calls 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
RESULTS = RESULTS_DIR / "bench_calls.json"
TARGETS = ("bare", "tandem")
# The goals of issue 5, shown next to the figures.
GOAL_RATIO = 8.0
FULL_RATE = 0.9 * 50


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------- the bare relay


def serve_bare(port: int) -> None:
    """The baseline server: aiohttp + aiortc MediaRelay, nothing else."""
    from aiohttp import web
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay
    from aiortc.mediastreams import MediaStreamTrack

    sys.path.insert(0, str(ROOT))
    # Loopback-only ICE (aioice leaves 127.0.0.1 out of its host candidates otherwise):
    # the same policy object the endpoints use, no forwarding code of Tandem's.
    from media.testing import loopback_peer

    relay = MediaRelay()
    peers: set[RTCPeerConnection] = set()
    closing: set[asyncio.Task[None]] = set()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def call(request: web.Request) -> web.Response:
        body = await request.json()
        pcs = {role: loopback_peer() for role in ("customer", "agent")}
        inbound: dict[str, MediaStreamTrack] = {}
        for role, pc in pcs.items():
            peers.add(pc)

            def on_track(track: MediaStreamTrack, role: str = role) -> None:
                inbound[role] = track

            pc.on("track", on_track)

            def on_state(pc: RTCPeerConnection = pc) -> None:
                if pc.connectionState in ("failed", "closed"):
                    peers.discard(pc)
                    task = asyncio.ensure_future(pc.close())
                    closing.add(task)
                    task.add_done_callback(closing.discard)

            pc.on("connectionstatechange", on_state)
            offer = RTCSessionDescription(sdp=body[role], type="offer")
            await pc.setRemoteDescription(offer)
        answers = {}
        for role, other in (("customer", "agent"), ("agent", "customer")):
            pc = pcs[role]
            pc.addTrack(relay.subscribe(inbound[other]))
            await pc.setLocalDescription(await pc.createAnswer())
            answers[role] = pc.localDescription.sdp
        return web.json_response(answers)

    async def close_all(app: web.Application) -> None:
        await asyncio.gather(*(pc.close() for pc in list(peers)), return_exceptions=True)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/call", call)
    app.on_shutdown.append(close_all)
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host="127.0.0.1", port=port, print=None, shutdown_timeout=2.0)


# ------------------------------------------------------------------ server processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
        self._log.close()


def start(name: str, recordings: Path) -> Server:
    port = free_port()
    if name == "bare":
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", "--port", str(port)]
        env: dict[str, str] = {}
    else:
        cmd = [
            sys.executable, "-m", "gateway", "serve", "--demo",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING",
        ]  # fmt: skip
        env = {
            "TANDEM_OFFER_TIMEOUT_SECONDS": "30",
            "TANDEM_WRAP_UP_SECONDS": "0",
            "TANDEM_RECORDINGS_DIR": str(recordings),
        }
    print(f"[{name}] starting: {' '.join(cmd)}", flush=True)
    server = Server(name, cmd, port, env)
    server.wait_ready()
    return server


def drive(server: Server, calls: int, warmup: float, seconds: float) -> dict[str, Any]:
    """Run the endpoint process against `server`; its JSON result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        output = Path(out.name)
    cmd = [
        sys.executable, str(HERE / "call_endpoints.py"),
        "--target", server.name, "--url", server.url, "--server-pid", str(server.proc.pid),
        "--calls", str(calls), "--warmup", str(warmup), "--seconds", str(seconds),
        "--output", str(output),
    ]  # fmt: skip
    budget = 60 + calls * 3 + warmup + seconds
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, timeout=budget
        )
        if not output.exists() or output.stat().st_size == 0:
            raise BenchError(
                f"endpoints against {server.name} failed ({done.returncode}):\n"
                f"{done.stderr.decode(errors='replace')[-3000:]}"
            )
        result: dict[str, Any] = json.loads(output.read_text())
    except subprocess.TimeoutExpired:
        raise BenchError(f"endpoints against {server.name} ran over {budget:.0f} s") from None
    finally:
        output.unlink(missing_ok=True)
    if server.proc.poll() is not None:
        raise BenchError(f"{server.name} died during the run:\n{server.log_tail()}")
    return result


def run_target(name: str, args: argparse.Namespace, recordings: Path) -> dict[str, Any]:
    server = start(name, recordings)
    try:
        print(f"[{name}] {args.calls} calls: {args.warmup:.0f} s warm-up, {args.seconds:.0f} s")
        measured = drive(server, args.calls, args.warmup, args.seconds)
        overload: dict[str, Any] | None = None
        if args.overload > 1:
            n = args.overload * args.calls
            print(f"[{name}] overload: {n} calls for {args.overload_seconds:.0f} s", flush=True)
            overload = drive(server, n, 1.0, args.overload_seconds)
            series = overload["server_rss_mb"]["series"]
            half = len(series) // 2
            # Flat: the second half's growth (MB/s), where a leaking queue would show.
            overload["rss_growth_mb_per_s_second_half"] = round(
                (series[-1] - series[half]) / max(1, len(series) - 1 - half), 2
            )
        return {"measured": measured, "overload": overload}
    finally:
        server.stop()


# ------------------------------------------------------------------------ reporting


def compare(results: dict[str, Any]) -> dict[str, Any]:
    try:
        b, t = results["bare"]["measured"], results["tandem"]["measured"]
    except KeyError:
        return {}
    bare, tandem = b["server_cpu_seconds_per_call_second"], t["server_cpu_seconds_per_call_second"]
    if not bare or not tandem:
        return {}
    out: dict[str, Any] = {
        "calls_per_core_bare": round(1 / bare, 1),
        "calls_per_core_tandem": round(1 / tandem, 1),
        "tandem_calls_per_core_over_bare": round(bare / tandem, 1),
        "goal": f">= {GOAL_RATIO:.0f}x",
        # A saturated server's CPU per call-second is capped by the core; CPU per frame
        # it delivered is not.
        "cpu_per_received_frame_bare_over_tandem": round(
            b["server_cpu_ms_per_received_frame"] / t["server_cpu_ms_per_received_frame"], 1
        ),
        "bare_saturated": b["frames_per_second_per_direction"]["min"] < FULL_RATE,
    }
    nb, nt = (
        b["server_net_cpu_seconds_per_call_second"],
        t["server_net_cpu_seconds_per_call_second"],
    )
    if nb and nt and nb > 0 and nt > 0:
        out["net_of_idle_tandem_calls_per_core_over_bare"] = round(nb / nt, 1)
    return out


def print_table(results: dict[str, Any], comparison: dict[str, Any]) -> None:
    head = (
        f"\n{'server':<7} {'phase':<9} {'calls':>5} {'CPU/core':>8} {'CPU-s/call-s':>12} "
        f"{'fps mean':>8} {'min':>5} {'gap ms':>6} {'healthz p50/p99/max ms':>23} "
        f"{'RSS MB start->end (max)':>24} {'ends CPU':>8}"
    )
    print(head)
    for name, result in results.items():
        for phase in ("measured", "overload"):
            r = result.get(phase)
            if not r:
                continue
            h, rss, fps = r["healthz_ms"], r["server_rss_mb"], r["frames_per_second_per_direction"]
            per_call = r["server_cpu_seconds_per_call_second"]
            lag = f"{h['p50']}/{h['p99']}/{h['max']}"
            mem = f"{rss['start']}->{rss['end']} ({rss['max']})"
            print(
                f"{name:<7} {phase:<9} {r['calls']:>5} {r['server_cpu_share_of_one_core']:>8.2f} "
                f"{'' if per_call is None else f'{per_call:.4f}':>12} {fps['mean']:>8.1f} "
                f"{fps['min']:>5.1f} {r['max_gap_ms']:>6} "
                f"{lag:>23} {mem:>24} "
                f"{r['endpoint_cpu_share_of_one_core']:>8.2f}"
                + ("  FRAMES LOST" if fps["min"] < FULL_RATE else "")
                + (f"  failures: {r['failures']}" if r["failures"] else "")
            )
    if comparison:
        print(
            f"\ncalls per core (1 / CPU-s per call-second): bare "
            f"{comparison['calls_per_core_bare']}, Tandem {comparison['calls_per_core_tandem']}"
            f" -> Tandem/bare {comparison['tandem_calls_per_core_over_bare']}x "
            f"(goal {comparison['goal']}); net of idle server CPU "
            f"{comparison.get('net_of_idle_tandem_calls_per_core_over_bare')}x; "
            f"CPU per received frame bare/Tandem "
            f"{comparison['cpu_per_received_frame_bare_over_tandem']}x"
            + (
                " (bare saturated: its CPU per call-second is capped)"
                if comparison["bare_saturated"]
                else ""
            )
        )


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _sigterm(*_: object) -> None:
    raise KeyboardInterrupt  # unwinds through the `finally`s that stop the servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10, help="concurrent calls (10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (3)")
    parser.add_argument("--overload", type=int, default=3, help="overload factor x calls (3)")
    parser.add_argument("--overload-seconds", type=float, default=15.0, help="(15)")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.port)
        return 0
    if not 1 <= args.calls <= 200:
        parser.error("--calls must be between 1 and 200")
    signal.signal(signal.SIGTERM, _sigterm)

    results: dict[str, Any] = {}
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-calls-recordings-") as recordings:
        for name in args.targets:
            try:
                results[name] = run_target(name, args, Path(recordings))
            except BenchError as error:
                errors.append(f"{name}: {error}")
                print(f"[{name}] FAILED: {error}", file=sys.stderr, flush=True)
    comparison = compare(results)
    print_table(results, comparison)
    report = {
        "benchmark": "bench_calls",
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
            "overload_calls": args.overload * args.calls if args.overload > 1 else None,
            "overload_seconds": args.overload_seconds,
            "targets": args.targets,
        },
        "results": results,
        "comparison": comparison,
        "errors": errors,
        "notes": [
            "healthz latency includes loopback HTTP and the endpoint process's own loop; "
            "a rise with load is the server's event-loop lag",
            "endpoint CPU near 1.0 means the endpoint process, not the server, limits "
            "frames/s (endpoints and server share the machine's cores)",
        ],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {args.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
