"""What every call plays while nobody talks to the customer: encoded once, shared by all calls."""

from __future__ import annotations

from dataclasses import dataclass

from media.audio_loop import EncodedAudioLoop
from media.slate import EncodedSlate
from media.switchable import SwitchableAudioTrack, SwitchableVideoTrack

__all__ = ["CallAssets"]


@dataclass(frozen=True, slots=True)
class CallAssets:
    """Pre-encoded queue and hold audio, silence and the video slate.

    Build it once at start-up (`CallAssets.build()` encodes, blocking the loop for a few
    tenths of a second) and hand the same object to every call. The packets are shared;
    the loops and slates made from them are per listener, because each keeps its own
    read position and pace.
    """

    hold_audio: tuple[bytes, ...]
    queue_audio: tuple[bytes, ...]
    silence: tuple[bytes, ...]
    slate_keyframe: bytes
    slate_fps: float = 5.0

    @classmethod
    def build(
        cls,
        *,
        hold: EncodedAudioLoop | None = None,
        queue: EncodedAudioLoop | None = None,
        slate: EncodedSlate | None = None,
    ) -> CallAssets:
        """The given sounds and slate, or Tandem's defaults (the hold chime, a plain slate)."""
        hold = hold if hold is not None else EncodedAudioLoop.hold_music()
        slate = slate if slate is not None else EncodedSlate.render(320, 240)
        return cls(
            hold_audio=hold.packets,
            queue_audio=(queue if queue is not None else hold).packets,
            silence=EncodedAudioLoop.silence().packets,
            slate_keyframe=slate.keyframe,
        )

    def hold_loop(self) -> EncodedAudioLoop:
        return EncodedAudioLoop(self.hold_audio)

    def queue_loop(self) -> EncodedAudioLoop:
        return EncodedAudioLoop(self.queue_audio)

    def slate(self) -> EncodedSlate:
        return EncodedSlate(self.slate_keyframe, self.slate_fps)

    def audio_track(self) -> SwitchableAudioTrack:
        """An outbound audio track that sends silence until it is given a source."""
        return SwitchableAudioTrack(filler=EncodedAudioLoop(self.silence))

    def video_track(self) -> SwitchableVideoTrack:
        """An outbound video track that shows the slate until it is given a source."""
        return SwitchableVideoTrack(idle=self.slate())
