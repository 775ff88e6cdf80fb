"""Network policy for media: which servers, local addresses and remote addresses ICE may use.

A bank's media server must not reach out to a public STUN server, must offer only the
interfaces it is meant to serve on, and must not send media to addresses outside the
networks it serves. aiortc's defaults do all three the other way: with no `iceServers`
it asks Google's STUN server, aioice offers every interface the machine has
(`aioice.ice.get_host_addresses`, which also leaves out 127.0.0.1), and any candidate
the remote offers is tried. This module holds the policy and the three places it is
applied; `media.peer.PolicedPeerConnection` applies all of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aioice import Candidate
from aiortc import RTCConfiguration, RTCIceCandidate, RTCIceServer, RTCPeerConnection

__all__ = [
    "IceSettings",
    "Network",
    "candidate_allowed",
    "filter_remote_sdp",
    "restrict_host_candidates",
    "rtc_configuration",
]

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_CANDIDATE_TYPES = frozenset({"host", "srflx", "prflx", "relay"})
_RESTRICTED_MARK = "_tandem_host_addresses"


@dataclass(frozen=True, slots=True)
class IceSettings:
    """ICE as configured; the defaults are a loopback-only server with no ICE servers.

    `host_addresses` are the local IP addresses host candidates are gathered on.
    `allowed_networks` are where remote candidates may point; a candidate outside them
    (and any mDNS `.local` name, which would need a resolver we do not trust) is dropped
    before aiortc sees it.
    """

    ice_servers: tuple[RTCIceServer, ...] = ()
    host_addresses: tuple[str, ...] = ("127.0.0.1",)
    allowed_networks: tuple[Network, ...] = field(
        default_factory=lambda: (ipaddress.ip_network("127.0.0.0/8"),)
    )

    def __post_init__(self) -> None:
        if not self.host_addresses:
            raise ValueError("at least one host address is needed to gather candidates")
        for address in self.host_addresses:
            # An interface name or a hostname here would fail deep inside gathering.
            ipaddress.ip_address(address)

    @classmethod
    def from_strings(
        cls,
        *,
        ice_servers: Iterable[RTCIceServer] = (),
        host_addresses: Iterable[str],
        allowed_networks: Iterable[str],
    ) -> IceSettings:
        return cls(
            ice_servers=tuple(ice_servers),
            host_addresses=tuple(host_addresses),
            allowed_networks=tuple(ipaddress.ip_network(n) for n in allowed_networks),
        )


def rtc_configuration(settings: IceSettings) -> RTCConfiguration:
    # An explicit list, even empty, is what keeps aiortc from adding its default STUN
    # server (it only does so when `iceServers` is None).
    return RTCConfiguration(iceServers=list(settings.ice_servers))


def candidate_allowed(candidate: str | RTCIceCandidate, networks: Iterable[Network]) -> bool:
    """Whether a remote candidate (an SDP `a=candidate:` line, or trickled) may be used.

    Only well-formed UDP candidates whose address is a literal IP inside `networks` pass:
    aiortc's own parser asserts on short lines, aioice resolves `.local` names through
    multicast DNS, and Tandem gathers no TCP candidates to pair TCP ones with.
    """
    if isinstance(candidate, RTCIceCandidate):
        protocol, ip = candidate.protocol, candidate.ip
        if candidate.type not in _CANDIDATE_TYPES:
            return False
    else:
        parsed = _parse_candidate(candidate)
        if parsed is None:
            return False
        protocol, ip = parsed
    if protocol.lower() != "udp":
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _parse_candidate(text: str) -> tuple[str, str] | None:
    text = text.strip()
    text = text.removeprefix("a=")
    if not text.startswith("candidate:"):
        return None
    bits = text[len("candidate:") :].split()
    if len(bits) < 8 or bits[6] != "typ" or bits[7] not in _CANDIDATE_TYPES:
        return None
    _foundation, component, protocol, priority, ip, port = bits[:6]
    if not (component.isdigit() and priority.isdigit() and port.isdigit()):
        return None
    if not 0 < int(port) < 65536:
        return None
    return protocol, ip


def filter_remote_sdp(sdp: str, networks: Iterable[Network]) -> str:
    """`sdp` without the `a=candidate:` lines `candidate_allowed` refuses.

    Apply it before `setRemoteDescription`; everything else in the SDP is kept byte for
    byte, line endings included.
    """
    allowed = tuple(networks)
    lines = sdp.splitlines(keepends=True)
    return "".join(
        line
        for line in lines
        if not line.startswith("a=candidate:") or candidate_allowed(line, allowed)
    )


def restrict_host_candidates(pc: RTCPeerConnection, addresses: Iterable[str]) -> None:
    """Make every ICE agent of `pc` gather host candidates on `addresses` only.

    Call it just before `setLocalDescription`, which gathers. aioice has no option for
    this: `Connection.gather_candidates` asks `get_host_addresses()` for every interface
    and passes the list to `get_component_candidates`. Replacing the module function would
    change every connection in the process; instead each connection of this peer gets
    its own `get_component_candidates` that substitutes the configured addresses. (The
    relay-only policy passes an empty list, which is kept.)
    """
    chosen = list(addresses)
    for connection in _ice_connections(pc):
        if getattr(connection, _RESTRICTED_MARK, None) == chosen:
            continue
        original = type(connection).get_component_candidates.__get__(connection)

        async def restricted(
            component: int,
            addresses: list[str],
            timeout: int = 5,  # noqa: ASYNC109 (aioice's signature)
            _original: Any = original,
        ) -> list[Candidate]:
            result: list[Candidate] = await _original(
                component=component, addresses=chosen if addresses else [], timeout=timeout
            )
            return result

        connection.get_component_candidates = restricted
        setattr(connection, _RESTRICTED_MARK, chosen)


def _ice_connections(pc: RTCPeerConnection) -> list[Any]:
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    seen: dict[int, Any] = {}
    for dtls in transports:
        # `RTCIceGatherer._connection` is the aioice agent; aiortc exposes no other handle.
        connection = dtls.transport.iceGatherer._connection
        seen[id(connection)] = connection
    return list(seen.values())
