// A browser's leg of a Tandem call: one RTCPeerConnection to the server (the server is the
// media endpoint, never the other party's browser). The browser always makes the offer and
// the server answers, also to add video later. There is no trickle ICE: an offer is sent
// once ICE gathering is complete, so it carries its candidates (docs/protocol.md, "Calls").
//
// Used by the customer page and the agent softphone. No build step: served as-is.

import { command, newKey } from "./common.js";

/** How long to wait for ICE gathering before sending the candidates found so far. */
const GATHERING_TIMEOUT_MS = 5000;

const VIDEO_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } };

/** Why getUserMedia failed, in words a person can act on. */
export function describeMediaError(error, what = "microphone") {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return `Access to your ${what} was refused. Allow it in the browser's address bar and try again.`;
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") return `No ${what} was found.`;
  if (name === "NotReadableError") return `Your ${what} is in use by another application.`;
  if (!navigator.mediaDevices || !window.RTCPeerConnection) {
    return "This browser cannot make calls here (calls need https or localhost and WebRTC).";
  }
  return `Could not use your ${what}${error && error.message ? ` (${error.message})` : ""}.`;
}

/** m:ss or h:mm:ss of a number of seconds. */
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/**
 * One call leg. `onTrack(kind, stream)` is told when remote audio or video arrives;
 * `onConnection(state)` follows the peer connection's connectionState.
 */
export class CallPeer {
  constructor({ onTrack, onConnection } = {}) {
    this.onTrack = onTrack;
    this.onConnection = onConnection;
    this.pc = null;
    this.local = new MediaStream(); // what we send (the preview shows its video)
    this.remote = new MediaStream(); // what the server sends us
    this.closed = false;
    this.muted = false;
    this._queue = Promise.resolve(); // offers are made one at a time
  }

  /** Open the microphone (and the camera if `video`) and create the peer connection.
   * If the camera cannot be opened, the call goes on with audio (and still receives
   * video); `cameraError` says why. Throws if the microphone cannot be opened. */
  async open({ video = false } = {}) {
    if (!navigator.mediaDevices || !window.RTCPeerConnection) {
      throw new Error(describeMediaError(null));
    }
    let stream;
    this.cameraError = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: video ? VIDEO_CONSTRAINTS : false });
    } catch (error) {
      if (!video) throw new Error(describeMediaError(error, "microphone"));
      this.cameraError = describeMediaError(error, "camera");
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (again) {
        throw new Error(describeMediaError(again, "microphone"));
      }
    }
    if (this.closed) {
      stream.getTracks().forEach((t) => t.stop());
      throw new Error("the call was closed");
    }
    // No STUN or TURN from the page: the server's ICE policy decides what it accepts.
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addEventListener("track", (event) => {
      const track = event.track;
      for (const old of this.remote.getTracks().filter((t) => t.kind === track.kind && t !== track)) {
        this.remote.removeTrack(old);
      }
      if (!this.remote.getTracks().includes(track)) this.remote.addTrack(track);
      track.addEventListener("unmute", () => this.onTrack?.(track.kind, this.remote));
      this.onTrack?.(track.kind, this.remote);
    });
    pc.addEventListener("connectionstatechange", () => this.onConnection?.(pc.connectionState));
    for (const track of stream.getTracks()) {
      this.local.addTrack(track);
      pc.addTransceiver(track, { direction: "sendrecv", streams: [this.local] });
    }
    // A video call without a camera still shows the agent's video (or the slate).
    if (video && !this.sendsVideo) pc.addTransceiver("video", { direction: "recvonly" });
    return this;
  }

  get sendsVideo() {
    return this.local.getVideoTracks().some((t) => t.readyState === "live");
  }

  get receivesVideo() {
    return Boolean(this.videoTransceiver());
  }

  videoTransceiver() {
    if (!this.pc) return null;
    return this.pc.getTransceivers().find((t) => !t.stopped && t.receiver.track?.kind === "video") || null;
  }

  /** An offer with every candidate in it (waits for ICE gathering to complete). */
  offer() {
    const run = this._queue.then(() => this._offer());
    this._queue = run.catch(() => {});
    return run;
  }

  async _offer() {
    const pc = this.pc;
    if (!pc || this.closed) throw new Error("the call was closed");
    await pc.setLocalDescription(await pc.createOffer());
    await waitGathered(pc);
    if (this.closed) throw new Error("the call was closed");
    return pc.localDescription.sdp;
  }

  /** The server's answer to our last offer. */
  async accept(sdp) {
    if (!this.pc || this.closed) return;
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  /** Give up a pending offer that the server refused (so a new one can be made). */
  async rollback() {
    if (this.pc && !this.closed && this.pc.signalingState === "have-local-offer") {
      await this.pc.setLocalDescription({ type: "rollback" });
    }
  }

  /** Start sending the camera; true if the next offer must be sent (a renegotiation). */
  async addCamera() {
    if (this.sendsVideo) return false;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: VIDEO_CONSTRAINTS });
    } catch (error) {
      throw new Error(describeMediaError(error, "camera"));
    }
    const [track] = stream.getVideoTracks();
    if (this.closed) {
      track.stop();
      throw new Error("the call was closed");
    }
    this.local.addTrack(track);
    // Tandem takes one video section per offer: reuse the receiving one if there is one.
    const existing = this.videoTransceiver();
    if (existing) {
      await existing.sender.replaceTrack(track);
      existing.sender.setStreams?.(this.local);
      existing.direction = "sendrecv";
    } else {
      this.pc.addTransceiver(track, { direction: "sendrecv", streams: [this.local] });
    }
    return true;
  }

  /** Make ready to receive video (the other side sends some); true if an offer is due. */
  receiveVideo() {
    if (!this.pc || this.closed || this.videoTransceiver()) return false;
    this.pc.addTransceiver("video", { direction: "recvonly" });
    return true;
  }

  /** Show or stop our camera without renegotiating (the track sends black while off). */
  setCameraOn(on) {
    for (const track of this.local.getVideoTracks()) track.enabled = on;
  }

  get cameraOn() {
    return this.local.getVideoTracks().some((t) => t.enabled && t.readyState === "live");
  }

  /** Our microphone off or on locally (the page also tells the server: `call.mute`). */
  setMuted(muted) {
    this.muted = muted;
    for (const track of this.local.getAudioTracks()) track.enabled = !muted;
  }

  /** Packets received and sent so far, per kind (from getStats). */
  async counts() {
    const out = { in: { audio: 0, video: 0 }, out: { audio: 0, video: 0 } };
    if (!this.pc) return out;
    const report = await this.pc.getStats();
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind in out.in) out.in[r.kind] += r.packetsReceived || 0;
      if (r.type === "outbound-rtp" && r.kind in out.out) out.out[r.kind] += r.packetsSent || 0;
    });
    return out;
  }

  /** Stop the microphone and camera and close the connection (the server sees it go). */
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const track of this.local.getTracks()) track.stop();
    try {
      this.pc?.close();
    } catch {
      // already closed
    }
  }
}

function waitGathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", last);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const last = (event) => {
      if (!event.candidate) done();
    };
    // Without STUN, host candidates come at once; send what there is if gathering hangs.
    const timer = setTimeout(done, GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", last);
  });
}

/** Attach a stream to a media element once (re-assigning restarts playback). */
export function attach(element, stream) {
  if (!element) return;
  if (element.srcObject !== stream) element.srcObject = stream;
  const playing = element.play?.();
  if (playing && typeof playing.catch === "function") playing.catch(() => {});
}

export function detach(element) {
  if (!element) return;
  element.srcObject = null;
}

// For tests and support: the page's current call (its peer connection and where it
// stands) on `window.tandemCall`, or null without one.
export function exposeCall(call) {
  window.tandemCall = call
    ? {
        get pc() {
          return call.peer?.pc || null;
        },
        get callId() {
          return call.id;
        },
        get phase() {
          return call.phase;
        },
        get media() {
          return call.media;
        },
        counts: () => (call.peer ? call.peer.counts() : null),
      }
    : null;
}

/** Send a new offer for the call (a camera added, or to receive the other side's video);
 * a refused offer is rolled back so the call goes on as it was. */
export async function renegotiateCall(socket, call) {
  const sdp = await call.peer.offer();
  try {
    const ack = await command(socket, "call.renegotiate", { call_id: call.id, sdp, key: newKey() });
    await call.peer.accept(ack.sdp);
  } catch (error) {
    await call.peer.rollback().catch(() => {});
    throw error;
  }
}
