"""The baseline for `bench_calls.py`: aiortc's stock `MediaRelay` between two peers, nothing else.

    POST /call {"customer": offer, "agent": offer}  ->  {"customer": answer, "agent": answer}
    GET /healthz                                     ->  {"status": "ok"}

Each party's inbound tracks (audio, and video if offered) are relayed to the other with
`MediaRelay`: the stock receivers decode every frame on their decoder threads and each
sender re-encodes (Opus, VP8) for its peer. That is what "just use aiortc" costs, and
what Tandem's encoded forwarding is compared with. No auth, no state beyond the peers.
ICE is loopback-only, with the same policy object the endpoints use (aioice leaves
127.0.0.1 out of its host candidates otherwise); no Tandem forwarding code is involved.

    python loadtests/bare_media_relay.py --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media.testing import loopback_peer

ROLES = ("customer", "agent")


def build_app() -> web.Application:
    relay = MediaRelay()
    peers: set[RTCPeerConnection] = set()
    closing: set[asyncio.Task[None]] = set()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def watch(pc: RTCPeerConnection) -> None:
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and pc in peers:
                peers.discard(pc)
                task = asyncio.ensure_future(pc.close())
                closing.add(task)
                task.add_done_callback(closing.discard)

        pc.on("connectionstatechange", on_state)

    async def call(request: web.Request) -> web.Response:
        body = await request.json()
        pcs = {role: loopback_peer() for role in ROLES}
        inbound: dict[str, dict[str, MediaStreamTrack]] = {role: {} for role in ROLES}
        for role, pc in pcs.items():
            peers.add(pc)
            watch(pc)

            def on_track(track: MediaStreamTrack, role: str = role) -> None:
                inbound[role][track.kind] = track

            pc.on("track", on_track)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=body[role], type="offer"))
        answers = {}
        for role, other in (("customer", "agent"), ("agent", "customer")):
            pc = pcs[role]
            for track in inbound[other].values():
                pc.addTrack(relay.subscribe(track))
            await pc.setLocalDescription(await pc.createAnswer())
            answers[role] = pc.localDescription.sdp
        return web.json_response(answers)

    async def close_all(app: web.Application) -> None:
        await asyncio.gather(*(pc.close() for pc in list(peers)), return_exceptions=True)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/call", call)
    app.on_shutdown.append(close_all)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Bare aiortc MediaRelay (call benchmark baseline)."
    )
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # run_app handles SIGINT and SIGTERM itself: both end it cleanly.
    web.run_app(build_app(), host="127.0.0.1", port=args.port, print=None, shutdown_timeout=2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
