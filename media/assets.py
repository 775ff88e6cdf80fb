"""What every call plays while nobody talks to the customer: encoded once, shared by all calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from media.audio_loop import EncodedAudioLoop
from media.frames import vp8_dimensions
from media.slate import EncodedSlate, SlateLines, SlatePainter
from media.switchable import SwitchableAudioTrack, SwitchableVideoTrack

__all__ = ["HOLD_LINES", "WAITING_LINES", "CallAssets", "waiting_lines"]

# What the customer's slate says while nobody talks to them.
WAITING_LINES: SlateLines = ("Connecting you\u2026",)
HOLD_LINES: SlateLines = ("You are on hold",)


def waiting_lines(position: int | None) -> SlateLines:
    """The waiting slate's text, with the queue position when the router knows it."""
    if position is None:
        return WAITING_LINES
    return (*WAITING_LINES, f"Queue position {position}")


@dataclass(frozen=True, slots=True)
class CallAssets:
    """Pre-encoded queue and hold audio, silence and the video slate.

    Build it once at start-up (`CallAssets.build()` encodes, blocking the loop for a few
    tenths of a second) and hand the same object to every call. The packets are shared;
    the loops and slates made from them are per listener, because each keeps its own
    read position and pace. The painter's slates with text (a queue position) are
    encoded when first needed, on a worker thread, and shared too.
    """

    hold_audio: tuple[bytes, ...]
    queue_audio: tuple[bytes, ...]
    silence: tuple[bytes, ...]
    slate_keyframe: bytes
    slate_fps: float = 5.0
    # The slate with text (waiting, queue position, hold): painted on demand, kept.
    painter: SlatePainter = field(default_factory=SlatePainter, compare=False)

    @classmethod
    def build(
        cls,
        *,
        hold: EncodedAudioLoop | None = None,
        queue: EncodedAudioLoop | None = None,
        slate: EncodedSlate | None = None,
        slate_size: tuple[int, int] = (320, 240),
    ) -> CallAssets:
        """The given sounds and plain slate, or Tandem's defaults (the hold chime, a plain
        slate); the slates with text are the plain one's size (the common ones painted
        now)."""
        hold = hold if hold is not None else EncodedAudioLoop.hold_music()
        if slate is not None:
            slate_size = vp8_dimensions(slate.keyframe) or slate_size
        painter = SlatePainter(*slate_size)
        slate = slate if slate is not None else EncodedSlate(painter.paint(()))
        for lines in (WAITING_LINES, HOLD_LINES, waiting_lines(1)):
            painter.paint(lines)
        return cls(
            hold_audio=hold.packets,
            queue_audio=(queue if queue is not None else hold).packets,
            silence=EncodedAudioLoop.silence().packets,
            slate_keyframe=slate.keyframe,
            painter=painter,
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

    def video_track(self, slate: EncodedSlate | None = None) -> SwitchableVideoTrack:
        """An outbound video track that shows `slate` (or a plain one) without a source."""
        return SwitchableVideoTrack(idle=slate if slate is not None else self.slate())
