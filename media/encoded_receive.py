"""Encoded frames out of an aiortc receiver: the one place Tandem touches aiortc internals.

aiortc has a public way to *send* encoded media (a track whose `recv()` returns
`av.Packet`s is packetised, not encoded) but none to *receive* it: `RTCRtpReceiver` puts
every frame its jitter buffer completes on a private `queue.Queue`
(`self.__decoder_queue.put((codec, encoded_frame))`), read by a decoder thread that feeds
the remote track. Forwarding a call through that path decodes and re-encodes it, about
twelve times the CPU of forwarding the Opus payload.

`EncodedReceive` swaps that queue, per receiver, for an object that hands each frame to a
sink (a `TrackHub`) instead. The decoder thread still runs but waits for the stop sentinel
only, so nothing is decoded and the stock remote track stays silent. For audio it also
swaps the receiver's jitter buffer (`__jitter_buffer`) for a pass-through: aiortc's holds
four packets back (80 ms) for a decoder playing out in real time, which a forwarding
server does not have; the receiving browser's own jitter buffer does that job. The
keyframe request uses the receiver's private `_send_rtcp_pli`; the sender side's
`_send_keyframe` is wrapped so a downstream picture-loss report reaches the upstream
sender.

Everything private is named in `INTERNALS` and checked by `check_aiortc_internals()`,
which `tests/unit/test_media_hook.py` runs: a new aiortc release that moves any of it
fails that test with a message, rather than calls going silent. aiortc is pinned to the
minor version checked here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiortc
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.frames import Codec, EncodedFrame, h264_is_keyframe, vp8_is_keyframe

__all__ = [
    "INTERNALS",
    "SUPPORTED_AIORTC",
    "AiortcInternalsChanged",
    "EncodedReceive",
    "EncodedSink",
    "check_aiortc_internals",
    "on_keyframe_request",
    "receiver_for_track",
]

logger = logging.getLogger(__name__)

SUPPORTED_AIORTC = "1.16."

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RECEIVER_KIND = "_RTCRtpReceiver__kind"
_RECEIVER_STARTED = "_RTCRtpReceiver__started"

INTERNALS = (
    f"RTCRtpReceiver.{_DECODER_QUEUE}: queue.Queue fed with (codec, JitterFrame) and None",
    f"RTCRtpReceiver.{_JITTER_BUFFER}: add(packet) -> (pli_flag, JitterFrame | None), with "
    "packet._data depayloaded; RTCRtpReceiver.__kind",
    "RTCRtpReceiver._send_rtcp_pli(media_ssrc): coroutine sending a PLI",
    "RTCRtpSender._send_keyframe(): called on an incoming PLI/FIR",
    "JitterFrame.data / JitterFrame.timestamp",
)

# A browser retries a lost keyframe itself; more than a few requests a second only
# inflates the upstream bitrate.
_MIN_KEYFRAME_INTERVAL = 0.25
# A sequence number this far behind the last one is a restarted sender, not a late packet
# (aiortc's jitter buffer draws the line at the same place).
_MAX_MISORDER = 100


class AiortcInternalsChanged(RuntimeError):
    """The installed aiortc no longer has what `EncodedReceive` relies on."""


class EncodedSink(Protocol):
    def push(self, frame: EncodedFrame) -> None: ...

    def close(self) -> None: ...


def check_aiortc_internals() -> None:
    """Raise `AiortcInternalsChanged`, saying what moved, if the hook would not work."""
    problems: list[str] = []
    version = getattr(aiortc, "__version__", "?")
    if not version.startswith(SUPPORTED_AIORTC):
        problems.append(f"aiortc {version} is not the checked {SUPPORTED_AIORTC}x")
    try:
        source = inspect.getsource(RTCRtpReceiver)
    except (OSError, TypeError):
        source = ""
    for needle in (
        "self.__decoder_queue.put((codec, encoded_frame))",
        "self.__decoder_queue.put(None)",
        "self.__decoder_queue,",
        "self.__started = False",
        "self.__kind = kind",
        "packet._data = depayload(codec, packet.payload)",
        "pli_flag, encoded_frame = self.__jitter_buffer.add(packet)",
    ):
        if needle not in source:
            problems.append(f"RTCRtpReceiver no longer contains {needle!r}")
    pli = getattr(RTCRtpReceiver, "_send_rtcp_pli", None)
    if pli is None or not inspect.iscoroutinefunction(pli):
        problems.append("RTCRtpReceiver._send_rtcp_pli is not a coroutine function")
    elif list(inspect.signature(pli).parameters) != ["self", "media_ssrc"]:
        problems.append("RTCRtpReceiver._send_rtcp_pli no longer takes (media_ssrc)")
    if "self._send_keyframe()" not in _source_or_empty(RTCRtpSender):
        problems.append("RTCRtpSender no longer calls self._send_keyframe() on PLI")
    if list(inspect.signature(JitterFrame).parameters) != ["data", "timestamp"]:
        problems.append("JitterFrame is no longer JitterFrame(data, timestamp)")
    if problems:
        raise AiortcInternalsChanged(
            "media/encoded_receive.py cannot hook this aiortc: "
            + "; ".join(problems)
            + ". Re-read aiortc's rtcrtpreceiver.py and adapt the hook, or pin aiortc back."
        )


def _source_or_empty(obj: object) -> str:
    try:
        return inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def receiver_for_track(pc: RTCPeerConnection, track: MediaStreamTrack) -> RTCRtpReceiver:
    """The receiver behind a `track` event (aiortc's event carries the track only)."""
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            return transceiver.receiver
    raise LookupError("no receiver of this peer connection owns that track")


class _DivertingQueue:
    """Stands in for the receiver's decoder queue: frames go to the sink, stops go on.

    Only the stop sentinel reaches the original queue, where the decoder thread waits:
    whether that thread started before the swap (it holds the original) or after (it
    holds this object and `get()` delegates), it ends when the receiver stops.
    """

    def __init__(
        self,
        original: queue.Queue[Any],
        deliver: Callable[[Any], None],
        stopped: Callable[[], None],
    ) -> None:
        self._original = original
        self._deliver = deliver
        self._stopped = stopped

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            self._original.put(None)
            self._stopped()
        else:
            self._deliver(item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        return self._original.get(block, timeout)

    def qsize(self) -> int:
        return self._original.qsize()


class _AudioFrames:
    """Stands in for an audio receiver's jitter buffer: each Opus packet is a whole frame.

    Frames go on as their packet arrives. A packet older than the last one handed on
    (reordered or duplicated) is dropped rather than passed on late: the outbound tracks
    re-time frames in arrival order, so it would be played out of place.
    """

    def __init__(self) -> None:
        self._ssrc: int | None = None
        self._last = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        sequence = packet.sequence_number
        if packet.ssrc == self._ssrc and (self._last - sequence) & 0xFFFF < _MAX_MISORDER:
            return False, None
        self._ssrc = packet.ssrc
        self._last = sequence
        return False, JitterFrame(packet._data, packet.timestamp)  # type: ignore[attr-defined]


class EncodedReceive:
    """Diverts one receiver's encoded frames to `sink` instead of aiortc's decoder.

    Install it on the peer connection's `track` event; that fires in
    `setRemoteDescription`, before the receiver starts. The sink's `push()` runs on the
    event loop (aiortc handles RTP there); `close()` follows when the receiver stops
    (BYE, `close()`, a lost transport).
    """

    def __init__(self, receiver: RTCRtpReceiver, sink: EncodedSink) -> None:
        state = vars(receiver)
        original = state.get(_DECODER_QUEUE)
        if isinstance(original, _DivertingQueue):
            raise ValueError("this receiver already delivers encoded frames elsewhere")
        if not isinstance(original, queue.Queue) or _JITTER_BUFFER not in state:
            raise AiortcInternalsChanged(
                f"RTCRtpReceiver has no {_DECODER_QUEUE} queue or {_JITTER_BUFFER}; "
                "run check_aiortc_internals()"
            )
        self._receiver = receiver
        self._sink = sink
        self._last_keyframe_request = -_MIN_KEYFRAME_INTERVAL
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        # Per payload type: the codec, or None for one that cannot be forwarded.
        self._codecs: dict[int, Codec | None] = {}
        self.frames = 0
        state[_DECODER_QUEUE] = _DivertingQueue(original, self._deliver, self._stopped)
        if state.get(_RECEIVER_KIND) == "audio":
            state[_JITTER_BUFFER] = _AudioFrames()
        if state.get(_RECEIVER_STARTED):
            logger.warning("encoded receive hooked after the receiver started")

    def request_keyframe(self) -> None:
        """Send a picture-loss indication for the track's current SSRC(s)."""
        now = time.monotonic()
        if self._closed or now - self._last_keyframe_request < _MIN_KEYFRAME_INTERVAL:
            return
        self._last_keyframe_request = now
        for source in self._receiver.getSynchronizationSources():
            task = asyncio.ensure_future(self._receiver._send_rtcp_pli(source.source))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _deliver(self, item: Any) -> None:
        if self._closed:
            return
        parameters, jitter_frame = item
        try:
            codec = self._codecs[parameters.payloadType]
        except KeyError:
            codec = self._codecs[parameters.payloadType] = _codec_of(parameters)
        if codec is None:
            # G.711/G.722 are negotiable but Tandem's legs speak Opus: such frames cannot
            # be forwarded as they are.
            return
        data = bytes(jitter_frame.data)
        if codec == "opus":
            keyframe = True
        elif codec == "vp8":
            keyframe = vp8_is_keyframe(data)
        else:
            keyframe = h264_is_keyframe(data)
        self.frames += 1
        self._sink.push(EncodedFrame(codec, data, jitter_frame.timestamp, keyframe))

    def _stopped(self) -> None:
        if not self._closed:
            self._closed = True
            self._sink.close()


def _codec_of(parameters: RTCRtpCodecParameters) -> Codec | None:
    name = parameters.mimeType.lower()
    if name == "audio/opus":
        return "opus"
    if name == "video/vp8":
        return "vp8"
    if name == "video/h264":
        return "h264"
    return None


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` when the peer behind `sender` asks for a keyframe (PLI or FIR).

    aiortc answers such a request by forcing its own encoder's next frame to be a
    keyframe; a sender fed pre-encoded packets has no encoder, so the request must travel
    upstream to whoever encodes (see `TrackHub.request_keyframe`).
    """
    original: Callable[[], None] = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        callback()

    vars(sender)["_send_keyframe"] = send_keyframe
