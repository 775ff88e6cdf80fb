"""One participant's leg of a call: its peer connection, what it sends and what it receives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

from aiortc import RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from media.assets import CallAssets
from media.encoded_receive import EncodedReceive, on_keyframe_request, receiver_for_track
from media.forwarder import Forwarder
from media.frames import EncodedFrame
from media.hub import TrackHub
from media.ice import IceSettings
from media.peer import PolicedPeerConnection
from media.slate import EncodedSlate, SlateLines
from media.switchable import FrameSource, SwitchableAudioTrack, SwitchableVideoTrack

__all__ = [
    "Kind",
    "Leg",
    "NegotiationError",
    "Party",
    "Route",
    "Source",
    "offered_kinds",
]

logger = logging.getLogger(__name__)

Party: TypeAlias = Literal["customer", "agent"]
Kind: TypeAlias = Literal["audio", "video"]
# What an outbound track can be switched to: another leg's inbound track (through a new
# forwarder), a pre-encoded source (hold audio), or nothing (silence / the slate).
Source: TypeAlias = TrackHub | FrameSource | None

# Forwarding cannot translate between codecs, so every leg must speak the same ones:
# Opus, and VP8 (aiortc's first choice, and every browser's).
_PREFERRED = {"audio": ("audio/opus",), "video": ("video/vp8", "video/rtx")}


class NegotiationError(ValueError):
    """An offer the server will not or cannot answer (no audio, two tracks of a kind, no
    Opus/VP8, a malformed SDP)."""


def offered_kinds(offer_sdp: str) -> list[Kind]:
    """The media kinds an offer carries, checked against what a leg can handle."""
    kinds: list[Kind] = []
    for line in offer_sdp.splitlines():
        if not line.startswith("m="):
            continue
        kind = line[2:].split(" ", 1)[0]
        if kind not in ("audio", "video"):
            continue
        if kind in kinds:
            # A second track of a kind would get a receiver nobody hooks: aiortc would
            # decode it for nothing.
            raise NegotiationError(f"the offer has more than one {kind} section")
        kinds.append("audio" if kind == "audio" else "video")
    if "audio" not in kinds:
        raise NegotiationError("the offer has no audio section")
    return kinds


def _codec_preferences(kind: Kind) -> list[RTCRtpCodecCapability]:
    wanted = _PREFERRED[kind]
    return [
        codec
        for codec in RTCRtpSender.getCapabilities(kind).codecs
        if codec.mimeType.lower() in wanted
    ]


class Route:
    """One outbound track of a leg and the source switched into it.

    A hub is never switched to directly: the route subscribes a `Forwarder` of its own
    and stops it when the source changes, so an inbound track feeds exactly the legs
    that are listening to it now.
    """

    def __init__(self, track: SwitchableAudioTrack | SwitchableVideoTrack) -> None:
        self.track = track
        self._source: Source = None
        self._forwarder: Forwarder | None = None
        self.switches = 0

    @property
    def source(self) -> Source:
        return self._source

    @property
    def dropped(self) -> int:
        return self._forwarder.dropped if self._forwarder is not None else 0

    def set(self, source: Source) -> None:
        if isinstance(source, TrackHub) and source.closed:
            source = None
        if source is self._source and (
            self._forwarder is None or self._forwarder.readyState == "live"
        ):
            return
        old = self._forwarder
        self._forwarder = None
        if isinstance(source, TrackHub):
            self._forwarder = source.forward()
            self.track.switch(self._forwarder)
        else:
            self.track.switch(source)
        self._source = source
        self.switches += 1
        if old is not None:
            old.stop()

    def clear(self) -> None:
        self.set(None)


class _FirstFrame:
    """The hub's sink, noting when the first frame arrives (the leg's media is flowing)."""

    def __init__(self, hub: TrackHub, first: Callable[[], None]) -> None:
        self._hub = hub
        self._first: Callable[[], None] | None = first

    def push(self, frame: EncodedFrame) -> None:
        if self._first is not None:
            first, self._first = self._first, None
            first()
        self._hub.push(frame)

    def close(self) -> None:
        self._hub.close()


class Leg:
    """A participant's `RTCPeerConnection` to the server, as the call sees it.

    Inbound tracks are hooked before they start (`EncodedReceive`) and fan out through a
    `TrackHub` per kind: nothing is decoded. Outbound there is one switchable track per
    kind the participant negotiated, created when its offer first carries that kind and
    kept for the life of the leg, so what it plays can change without renegotiation.
    The server only ever answers; the participant offers, including to add video.
    """

    def __init__(
        self,
        party: Party,
        participant_id: str,
        *,
        ice: IceSettings,
        assets: CallAssets,
        on_media: Callable[[Leg, Kind | None], None],
        on_lost: Callable[[Leg, str], None],
    ) -> None:
        self.party = party
        self.participant_id = participant_id
        self.pc = PolicedPeerConnection(ice)
        self._assets = assets
        self._on_media = on_media
        self._on_lost = on_lost
        self.hubs: dict[Kind, TrackHub] = {}
        self.routes: dict[Kind, Route] = {}
        self._hooks: list[EncodedReceive] = []
        # The picture shown when the video track has no source, and the text asked for.
        self._slate: EncodedSlate | None = None
        self._slate_lines: SlateLines = ()
        self._painting: asyncio.Task[None] | None = None
        self._flowing = asyncio.Event()
        self._closing = False
        self._close: asyncio.Future[None] | None = None
        self.lost: str | None = None
        self.negotiations = 0
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def __repr__(self) -> str:
        return f"<Leg {self.party} {self.participant_id} {self.state}>"

    @property
    def state(self) -> str:
        return "closed" if self._closing else str(self.pc.connectionState)

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def kinds(self) -> list[Kind]:
        """The kinds this leg sends to its participant."""
        return list(self.routes)

    async def negotiate(self, offer_sdp: str) -> str:
        """Answer the participant's offer (the first one, or a renegotiation)."""
        kinds = offered_kinds(offer_sdp)
        for kind in kinds:
            if kind not in self.routes:
                self._add_outbound(kind)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except Exception as error:
            # aiortc refuses in many ways (a malformed line, no common codec, a wrong
            # state); the signaling layer needs one to catch.
            raise NegotiationError(f"cannot answer the offer: {error!r}") from error
        self.negotiations += 1
        if "audio" not in self.hubs and self.pc.connectionState == "connected":
            self._flowing.set()
        self._on_media(self, None)
        return str(self.pc.localDescription.sdp)

    def route(self, kind: Kind, source: Source) -> None:
        """Play `source` on this leg's outbound `kind` track, if it has one."""
        route = self.routes.get(kind)
        if route is not None and not self._closing:
            route.set(source)

    def show_on_slate(self, lines: SlateLines) -> None:
        """Put `lines` on this leg's slate (from its next frame, or once painted)."""
        if lines == self._slate_lines:
            return
        self._slate_lines = lines
        if self._slate is not None:
            self._paint_slate()

    async def wait_flowing(self) -> bool:
        """Wait until the participant's audio arrives (or, sending none, it connected).

        False if the leg was lost or closed first.
        """
        await self._flowing.wait()
        return not self._closing and self.lost is None

    async def close(self) -> None:
        """Close the peer connection; every caller returns once it is closed.

        The closing itself is shielded: a caller that is cancelled (a call task ended by
        the call's teardown) does not leave the connection half closed.
        """
        if self._close is None:
            self._closing = True
            self._flowing.set()
            if self._painting is not None:
                self._painting.cancel()
            for route in self.routes.values():
                route.clear()
            self._close = asyncio.ensure_future(self._shut())
        await asyncio.shield(self._close)

    async def _shut(self) -> None:
        await self.pc.close()
        for route in self.routes.values():
            route.track.stop()
        for hub in self.hubs.values():
            hub.close()

    def stats(self) -> dict[str, Any]:
        inbound = {
            kind: {"frames": hub.frames_in, "listeners": hub.listeners}
            for kind, hub in self.hubs.items()
        }
        outbound: dict[str, Any] = {}
        for kind, route in self.routes.items():
            track = route.track
            entry: dict[str, Any] = {
                "frames": track.sent,
                "switches": route.switches,
                "dropped": route.dropped,
            }
            if isinstance(track, SwitchableAudioTrack):
                entry["filled"] = track.filled
            outbound[kind] = entry
        return {
            "participant": self.participant_id,
            "state": self.state,
            "signaling": self.pc.signalingState,
            "in": inbound,
            "out": outbound,
            "dropped": sum(route.dropped for route in self.routes.values()),
            "dropped_candidates": self.pc.dropped_candidates,
        }

    def _add_outbound(self, kind: Kind) -> None:
        track: SwitchableAudioTrack | SwitchableVideoTrack
        if kind == "audio":
            track = self._assets.audio_track()
        else:
            self._slate = self._assets.slate()
            track = self._assets.video_track(self._slate)
            if self._slate_lines:
                self._paint_slate()
        transceiver = self.pc.addTransceiver(track, direction="sendrecv")
        # Set before the offer is applied: aiortc picks the answer's codecs from the
        # offer filtered by these, in setRemoteDescription.
        transceiver.setCodecPreferences(_codec_preferences(kind))
        if isinstance(track, SwitchableVideoTrack):
            on_keyframe_request(transceiver.sender, track.request_keyframe)
        self.routes[kind] = Route(track)

    def _paint_slate(self) -> None:
        keyframe = self._assets.painter.painted(self._slate_lines)
        if self._painting is not None:
            self._painting.cancel()
            self._painting = None
        if keyframe is not None:
            if self._slate is not None:
                self._slate.show(keyframe)
        elif not self._closing:
            # Encoding a picture takes milliseconds: not on the event loop.
            self._painting = asyncio.ensure_future(self._paint_soon(self._slate_lines))
            self._painting.add_done_callback(self._painted)

    def _painted(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("%r: painting the slate failed", self, exc_info=task.exception())

    async def _paint_soon(self, lines: SlateLines) -> None:
        keyframe = await self._assets.painter.paint_soon(lines)
        if lines == self._slate_lines and self._slate is not None:
            self._slate.show(keyframe)

    def _on_track(self, remote: MediaStreamTrack) -> None:
        kind: Kind = "audio" if remote.kind == "audio" else "video"
        if kind in self.hubs:
            logger.warning("%r: a second inbound %s track is ignored", self, kind)
            return
        receiver = receiver_for_track(self.pc, remote)
        hooks = self._hooks
        index = len(hooks)
        hub = TrackHub(kind, request_keyframe=lambda: hooks[index].request_keyframe())
        first = self._flowing.set if kind == "audio" else _nothing
        hooks.append(EncodedReceive(receiver, _FirstFrame(hub, first)))
        self.hubs[kind] = hub
        self._on_media(self, kind)

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and "audio" not in self.hubs:
            self._flowing.set()
        if state in ("failed", "closed") and not self._closing and self.lost is None:
            self.lost = state
            self._flowing.set()
            self._on_lost(self, state)


def _nothing() -> None:
    return None
