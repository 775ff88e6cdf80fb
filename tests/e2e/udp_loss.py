"""A lossy UDP relay on loopback, to put between an aiortc peer and the server's media port.

The relay has two sockets on 127.0.0.1:

* the *peer side*, advertised to the client as the server's only ICE candidate (the
  server's SDP answer is rewritten with `LossyRelay.rewrite`);
* the *server side*, advertised to the server as the client's only ICE candidate (the
  client's SDP offer is rewritten the same way before it is sent).

So each end sees every packet come from the address it was told about: no peer-reflexive
candidate appears, and ICE can only pick the path through the relay. A datagram arriving
on one side is sent on from the other to the real address taken from the original SDP.

Only RTP and RTCP (first byte 128-191, RFC 7983) are dropped, each with probability
`loss`, from one seeded `random.Random` per direction: STUN (connectivity checks and
consent freshness) and DTLS always pass, so the call stays up and only media is lost.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import cast

__all__ = ["Direction", "LossyRelay", "candidate_address"]

HOST = "127.0.0.1"


def candidate_address(sdp: str) -> tuple[str, int]:
    """The address of the first UDP candidate on 127.0.0.1 in `sdp`."""
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            bits = line.split()
            protocol, ip, port = bits[2], bits[4], bits[5]
            if protocol.lower() == "udp" and ip == HOST:
                return ip, int(port)
    raise ValueError("no UDP candidate on 127.0.0.1 in the SDP")


def _replace_candidates(sdp: str, port: int) -> str:
    """`sdp` with its first loopback UDP candidate moved to `HOST:port`, the others gone."""
    out: list[str] = []
    kept = False
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:"):
            bits = line.split(" ")
            if kept or bits[2].lower() != "udp" or bits[4] != HOST:
                continue
            bits[5] = str(port)
            line = " ".join(bits)
            kept = True
        out.append(line)
    if not kept:
        raise ValueError("no UDP candidate on 127.0.0.1 in the SDP")
    return "".join(out)


def is_rtp_or_rtcp(data: bytes) -> bool:
    return bool(data) and 128 <= data[0] <= 191


@dataclass
class Direction:
    """Counters for one direction through the relay."""

    loss: float
    seed: int
    forwarded: int = 0
    dropped: int = 0
    media: int = 0
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def passes(self, data: bytes) -> bool:
        if is_rtp_or_rtcp(data):
            self.media += 1
            if self._random.random() < self.loss:
                self.dropped += 1
                return False
        self.forwarded += 1
        return True


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: object) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_datagram(data, addr)  # type: ignore[operator]


class LossyRelay:
    """Forward datagrams between one client and the server, dropping media at `loss`.

    Usage: `await relay.start()`; send `relay.rewrite_offer(offer)` to the server instead
    of the client's offer; give the client `relay.rewrite_answer(answer)`; `relay.close()`.
    """

    def __init__(self, loss: float = 0.02, seed: int = 2) -> None:
        self.upstream = Direction(loss, seed)  # client -> server
        self.downstream = Direction(loss, seed + 1)  # server -> client
        self._client: tuple[str, int] | None = None
        self._server: tuple[str, int] | None = None
        self._peer_side = _Side(self._from_client)
        self._server_side = _Side(self._from_server)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self._peer_side, local_addr=(HOST, 0))
        await loop.create_datagram_endpoint(lambda: self._server_side, local_addr=(HOST, 0))

    @property
    def peer_port(self) -> int:
        assert self._peer_side.transport is not None
        return int(self._peer_side.transport.get_extra_info("sockname")[1])

    @property
    def server_port(self) -> int:
        assert self._server_side.transport is not None
        return int(self._server_side.transport.get_extra_info("sockname")[1])

    def rewrite_offer(self, offer: str) -> str:
        """The client's offer as the server should see it: the client is at the relay."""
        self._client = candidate_address(offer)
        return _replace_candidates(offer, self.server_port)

    def rewrite_answer(self, answer: str) -> str:
        """The server's answer as the client should see it: the server is at the relay."""
        self._server = candidate_address(answer)
        return _replace_candidates(answer, self.peer_port)

    def _from_client(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._server is not None and self.upstream.passes(data):
            assert self._server_side.transport is not None
            self._server_side.transport.sendto(data, self._server)

    def _from_server(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._client is not None and self.downstream.passes(data):
            assert self._peer_side.transport is not None
            self._peer_side.transport.sendto(data, self._client)

    def close(self) -> None:
        for side in (self._peer_side, self._server_side):
            if side.transport is not None:
                side.transport.close()
