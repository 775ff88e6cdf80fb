"""An `RTCPeerConnection` that follows Tandem's ICE policy on its own."""

from __future__ import annotations

from aiortc import RTCIceCandidate, RTCPeerConnection, RTCSessionDescription

from media.ice import (
    IceSettings,
    candidate_allowed,
    filter_remote_sdp,
    restrict_host_candidates,
    rtc_configuration,
)

__all__ = ["PolicedPeerConnection"]


class PolicedPeerConnection(RTCPeerConnection):
    """A peer connection whose ICE obeys `IceSettings` without the caller remembering to.

    The configured ICE servers only (none by default, so no public STUN), host
    candidates on the configured addresses only, and remote candidates outside the
    allowed networks dropped, whether they come in the SDP or trickled.
    """

    def __init__(self, ice: IceSettings) -> None:
        super().__init__(configuration=rtc_configuration(ice))
        self.ice = ice
        self.dropped_candidates = 0

    async def setLocalDescription(
        self, sessionDescription: RTCSessionDescription | None = None
    ) -> None:
        restrict_host_candidates(self, self.ice.host_addresses)
        await super().setLocalDescription(sessionDescription)

    async def setRemoteDescription(self, sessionDescription: RTCSessionDescription) -> None:
        sdp = filter_remote_sdp(sessionDescription.sdp, self.ice.allowed_networks)
        self.dropped_candidates += sessionDescription.sdp.count("a=candidate:") - sdp.count(
            "a=candidate:"
        )
        await super().setRemoteDescription(
            RTCSessionDescription(sdp=sdp, type=sessionDescription.type)
        )

    async def addIceCandidate(self, candidate: RTCIceCandidate | None) -> None:
        if candidate is not None and not candidate_allowed(candidate, self.ice.allowed_networks):
            self.dropped_candidates += 1
            return
        await super().addIceCandidate(candidate)
