"""ICE policy: remote candidates filtered before aiortc sees them, local ones restricted."""

from __future__ import annotations

import ipaddress

import pytest
from aiortc import RTCIceCandidate, RTCIceServer

from media.ice import (
    IceSettings,
    candidate_allowed,
    filter_remote_sdp,
    rtc_configuration,
)
from media.peer import PolicedPeerConnection

NETWORKS = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))

SDP = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=candidate:1 1 udp 2122260223 10.1.2.3 50000 typ host",
        "a=candidate:2 1 udp 2122260223 192.168.1.5 50001 typ host",
        "a=candidate:3 1 udp 2122262783 2001:db8::5 50002 typ host",
        "a=candidate:4 1 udp 2122262783 fe80::1 50003 typ host",
        "a=candidate:5 1 udp 2122260223 3e1b6d34-aaaa-bbbb.local 50004 typ host",
        "a=candidate:6 1 tcp 1518280447 10.1.2.3 9 typ host tcptype active",
        "a=candidate:7 1 udp 1686052607 10.9.9.9 50005 typ srflx raddr 10.1.2.3 rport 50000",
        "a=candidate:8 1 udp 2122260223 10.1.2.3",
        "a=candidate:9 1 udp 2122260223 10.1.2.3 notaport typ host",
        "a=candidate:10 1 udp 2122260223 10.1.2.3 50006 typ bogus",
        "a=candidate:11 1 udp 2122260223 10.1.2.3 70000 typ host",
        "a=candidate:12 1 udp 2122260223 fe80::1%eth0 50007 typ host",
        "a=end-of-candidates",
        "a=mid:0",
        "",
    ]
)


def candidate_ids(sdp: str) -> list[str]:
    return [line.split()[0].split(":")[1] for line in sdp.splitlines() if "a=candidate:" in line]


def test_sdp_filter_keeps_only_udp_candidates_inside_the_allowed_networks() -> None:
    assert candidate_ids(filter_remote_sdp(SDP, NETWORKS)) == ["1", "3", "7"]


def test_sdp_filter_keeps_every_other_line_byte_for_byte() -> None:
    filtered = filter_remote_sdp(SDP, NETWORKS)
    others = [line for line in SDP.split("\r\n") if not line.startswith("a=candidate:")]
    assert [line for line in filtered.split("\r\n") if not line.startswith("a=candidate:")] == (
        others
    )
    assert "\r\n" in filtered and "a=end-of-candidates\r\n" in filtered


def test_no_allowed_network_drops_every_candidate() -> None:
    assert candidate_ids(filter_remote_sdp(SDP, ())) == []


def test_ipv4_candidates_do_not_match_ipv6_networks() -> None:
    line = "a=candidate:1 1 udp 1 ::ffff:10.1.2.3 5000 typ host"
    assert not candidate_allowed(line, (ipaddress.ip_network("10.0.0.0/8"),))


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("candidate:1 1 udp 2122260223 10.0.0.7 5000 typ host", True),
        ("a=candidate:1 1 UDP 2122260223 10.0.0.7 5000 typ host", True),
        ("  candidate:1 1 udp 2122260223 10.0.0.7 5000 typ host generation 0  ", True),
        ("candidate:1 1 udp 2122260223 abc.local 5000 typ host", False),
        ("candidate:1 1 tcp 2122260223 10.0.0.7 5000 typ host tcptype passive", False),
        ("candidate:1 1 udp 2122260223 8.8.8.8 5000 typ host", False),
        ("candidate:", False),
        ("", False),
        ("a=mid:0", False),
        ("candidate:1 x udp 2122260223 10.0.0.7 5000 typ host", False),
    ],
)
def test_trickled_candidate_strings(text: str, allowed: bool) -> None:
    assert candidate_allowed(text, NETWORKS) is allowed


def test_trickled_candidate_objects() -> None:
    def make(ip: str, protocol: str = "udp", kind: str = "host") -> RTCIceCandidate:
        return RTCIceCandidate(
            component=1,
            foundation="1",
            ip=ip,
            port=5000,
            priority=1,
            protocol=protocol,
            type=kind,
            sdpMid="0",
        )

    assert candidate_allowed(make("10.0.0.7"), NETWORKS)
    assert candidate_allowed(make("2001:db8::7"), NETWORKS)
    assert not candidate_allowed(make("x.local"), NETWORKS)
    assert not candidate_allowed(make("10.0.0.7", protocol="tcp"), NETWORKS)
    assert not candidate_allowed(make("10.0.0.7", kind="weird"), NETWORKS)
    assert not candidate_allowed(make("172.16.0.1"), NETWORKS)


def test_settings_validate_host_addresses() -> None:
    with pytest.raises(ValueError, match="at least one"):
        IceSettings(host_addresses=())
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        IceSettings(host_addresses=("eth0",))
    settings = IceSettings.from_strings(
        host_addresses=["10.0.0.2"], allowed_networks=["10.0.0.0/8"]
    )
    assert settings.allowed_networks == (ipaddress.ip_network("10.0.0.0/8"),)


def test_default_configuration_names_no_ice_server() -> None:
    assert rtc_configuration(IceSettings()).iceServers == []
    server = RTCIceServer("stun:stun.example.net:3478")
    assert rtc_configuration(IceSettings(ice_servers=(server,))).iceServers == [server]


async def test_peer_gathers_only_on_the_configured_address_and_asks_no_stun_server() -> None:
    pc = PolicedPeerConnection(IceSettings())
    try:
        pc.addTransceiver("audio")
        pc.createDataChannel("chat")
        await pc.setLocalDescription(await pc.createOffer())
        addresses = {
            line.split()[4]
            for line in pc.localDescription.sdp.splitlines()
            if line.startswith("a=candidate:")
        }
        assert addresses == {"127.0.0.1"}
        for transceiver in pc.getTransceivers():
            # An explicit empty list keeps aiortc from adding stun.l.google.com.
            connection = transceiver.receiver.transport.transport.iceGatherer._connection
            assert connection.stun_server is None
            assert connection.turn_server is None
    finally:
        await pc.close()


async def test_peer_drops_remote_candidates_outside_the_allowed_networks() -> None:
    pc = PolicedPeerConnection(IceSettings())
    try:
        pc.addTransceiver("audio")
        await pc.addIceCandidate(
            RTCIceCandidate(
                component=1,
                foundation="1",
                ip="192.0.2.1",
                port=5000,
                priority=1,
                protocol="udp",
                type="host",
                sdpMid="0",
            )
        )
        assert pc.dropped_candidates == 1
    finally:
        await pc.close()
