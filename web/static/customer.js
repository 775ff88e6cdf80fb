// The customer chat widget: demo login, one conversation, bot and agent in the same log.
import { attach, CallPeer, detach, exposeCall, formatClock, renegotiateCall } from "./call.js";
import {
  $,
  command,
  ConversationLog,
  describeCallEnd,
  describeError,
  formatWait,
  h,
  Names,
  pageElements,
  newKey,
  openSession,
  sendPending,
  showError,
  signIn,
  TypingIndicator,
  TypingSignal,
  userFromUrl,
  wireComposer,
} from "./common.js";

const ui = {
  ...pageElements(),
  chat: $("#chat"),
  messages: $("#messages"),
  composerForm: $("#composer-form"),
  composer: $("#composer"),
  send: $("#send"),
  talk: $("#talk-to-person"),
  banner: $("#queue-banner"),
  typing: $("#typing"),
  error: $("#error"),
  ended: $("#ended"),
  newConversation: $("#new-conversation"),
  handlerName: $("#handler-name"),
  handlerNote: $("#handler-note"),
  handlerAvatar: $("#handler-avatar"),
  callAudio: $("#call-audio"),
  callVideo: $("#call-video"),
  callBar: $("#call-bar"),
  callMedia: $("#call-media"),
  remoteVideo: $("#remote-video"),
  localVideo: $("#local-video"),
  remoteAudio: $("#remote-audio"),
  callState: $("#call-state"),
  callDetail: $("#call-detail"),
  callTimer: $("#call-timer"),
  callMute: $("#call-mute"),
  callVideoOn: $("#call-video-on"),
  callHangup: $("#call-hangup"),
  callDismiss: $("#call-dismiss"),
};

const names = new Names();
const state = {
  session: null, // {token, id, name, role}
  socket: null,
  self: null, // "customer:<id>"
  conversationId: null,
  log: null,
  startKey: newKey(),
  starting: null,
  connectedBefore: false,
  early: [], // events that came before the start ack told us the conversation id
  queue: null, // {position, estimated_wait_seconds}
  readSent: 0,
  readTimer: null,
  resuming: false,
  agentRequested: false,
  // The call on this page: {id, media, phase, peer, agent, ...}; phase is connecting |
  // waiting | talking | held | ended. A call lives as long as this page (and its socket).
  call: null,
  logCall: null, // the call the log says is open: {call_id, media}
  earlyCallEvents: [], // call events that came before our call.start ack
};

let typingSignal = null;
const typingIndicator = new TypingIndicator(ui.typing, names);

// --- login ---------------------------------------------------------------------------

async function login(username) {
  const session = await signIn(ui, username, {
    role: "customer",
    whoami: (session) => [
      h("span", { text: `Signed in as ${session.name}` }),
      h("a", { href: "/customer", class: "link-button", text: "Switch" }),
    ],
  });
  if (!session) return;
  state.session = session;
  state.self = `customer:${session.id}`;
  names.set(state.self, session.name);
  ui.chat.hidden = false;
  openSocket(username);
}

function openSocket(username) {
  const socket = openSession("/customer", username, state.session, ui.status, (fresh) => {
    state.session = fresh;
  });
  state.socket = socket;
  typingSignal = new TypingSignal(socket);
  socket.on("connect", onConnect);
  socket.on("disconnect", () => {
    typingIndicator.hide();
    updateComposer();
    if (callActive()) {
      state.call.socketLost = true;
      renderCall();
    }
  });
  socket.on("event", onEvent);
  socket.on("typing", (payload) => {
    if (!payload || payload.conversation_id !== state.conversationId) return;
    if (payload.actor === state.self) return;
    typingIndicator.update(payload);
  });
  socket.on("queue.position", (payload) => {
    if (!payload || payload.conversation_id !== state.conversationId) return;
    state.queue = payload;
    renderHandler();
    renderCall();
  });
  socket.on("call.ended", onCallEndedNotice);
  socket.on("call.video_available", onVideoAvailable);
  socket.on("call.muted", onCallMuted);
}

// --- conversation ----------------------------------------------------------------------

async function onConnect() {
  updateComposer();
  if (!state.connectedBefore || !state.conversationId) {
    state.connectedBefore = true;
    await startConversation();
  } else {
    // A call does not outlive the connection it was set up on: end it cleanly and say so.
    if (callActive()) endCallAfterReconnect(state.call);
    await resume();
  }
  endStaleCall();
}

async function startConversation() {
  if (state.starting) return state.starting;
  state.starting = (async () => {
    try {
      const ack = await command(state.socket, "conversation.start", {
        key: state.startKey,
        channel: "chat",
      });
      useConversation(ack.conversation_id);
    } catch (error) {
      showError(ui.error, `Could not start the chat. ${describeError(error)}`);
    } finally {
      state.starting = null;
    }
  })();
  return state.starting;
}

function useConversation(conversationId) {
  if (state.conversationId === conversationId && state.log) return;
  state.conversationId = conversationId;
  state.logCall = null;
  state.queue = null;
  state.readSent = 0;
  state.agentRequested = false;
  state.log = new ConversationLog({
    conversationId,
    container: ui.messages,
    self: state.self,
    perspective: "customer",
    names,
    onSuggestion: (text) => sendText(text),
    onGap: () => resume(),
  });
  state.log.reset();
  ui.messages.dataset.conversationId = conversationId;
  const early = state.early.filter((e) => e.conversation_id === conversationId);
  state.early = [];
  early.sort((a, b) => a.seq - b.seq).forEach(onEvent);
  renderHandler();
  updateComposer();
}

async function resume() {
  if (!state.conversationId || state.resuming) return;
  state.resuming = true;
  const conversationId = state.conversationId;
  try {
    await command(state.socket, "resume", {
      conversation_id: conversationId,
      after_seq: state.log.lastSeq,
    });
  } catch (error) {
    if (error.code === "not_found" || error.code === "forbidden") {
      // The server no longer knows this conversation (e.g. restarted): begin a new one.
      showError(ui.error, "Your previous conversation is no longer available; starting a new one.");
      // Messages still on their way go to the new conversation instead of being lost.
      const unsent = (state.log?.pending || []).filter((p) => !p.failed || p.retryable).map((p) => p.text);
      await beginNewConversation();
      for (const text of unsent) sendText(text);
    } else {
      showError(ui.error, `Could not catch up with the conversation. ${describeError(error)}`);
    }
  } finally {
    state.resuming = false;
  }
}

async function beginNewConversation() {
  state.startKey = newKey();
  state.conversationId = null;
  state.log?.reset();
  state.log = null;
  ui.ended.hidden = true;
  typingIndicator.hide();
  renderHandler();
  updateComposer();
  await startConversation();
}

function onEvent(event) {
  if (!event || !event.conversation_id) return;
  if (!state.log) {
    state.early.push(event);
    return;
  }
  if (event.conversation_id !== state.conversationId) return;
  const result = state.log.add(event);
  if (!result.accepted) return;
  if (result.message && result.fromOthers) {
    typingIndicator.hide();
    scheduleRead();
  }
  if (event.type === "handler.changed" || event.type === "conversation.closed") {
    if (event.data?.to !== "queue") state.queue = null;
    renderHandler();
    updateComposer();
  }
  onCallEvent(event);
}

// --- header, queue banner, composer ------------------------------------------------------

function renderHandler() {
  const log = state.log;
  const handler = log ? log.handler : null;
  const closed = Boolean(log && log.closed);
  let name = "Assistant";
  let note = "Usually answers instantly";
  let avatar = "A";
  let avatarKind = "bot";
  if (closed) {
    note = "Conversation ended";
  } else if (handler === "queue") {
    name = "Waiting for an agent";
    note = "You can keep writing: the agent will see everything";
    avatar = "…";
    avatarKind = "queue";
  } else if (handler && handler.startsWith("agent:")) {
    name = names.of(handler);
    note = "Customer service";
    avatar = name.charAt(0).toUpperCase();
    avatarKind = "agent";
  } else if (handler === "digital_human") {
    name = "Digital assistant";
  }
  ui.handlerName.textContent = name;
  ui.handlerNote.textContent = note;
  ui.handlerAvatar.textContent = avatar;
  ui.handlerAvatar.className = `avatar avatar-${avatarKind}`;

  const withPerson = handler === "queue" || (handler && handler.startsWith("agent:"));
  ui.talk.hidden = Boolean(handler && handler.startsWith("agent:")) || closed;
  ui.talk.disabled = !log || withPerson || state.agentRequested;
  ui.talk.textContent = handler === "queue" ? "Agent requested" : "Talk to a person";

  if (handler === "queue" && !closed) {
    const q = state.queue;
    let text = "Waiting for an agent…";
    if (q && q.position) {
      const wait = formatWait(q.estimated_wait_seconds);
      text = `You are number ${q.position} in the queue${wait ? `, ${wait}` : ""}`;
    }
    ui.banner.replaceChildren(h("span", { class: "pulse", "aria-hidden": "true" }), h("span", { text }));
    ui.banner.hidden = false;
  } else {
    ui.banner.hidden = true;
    ui.banner.replaceChildren();
  }
}

function updateComposer() {
  const log = state.log;
  const closed = Boolean(log && log.closed);
  const usable = Boolean(state.conversationId && log && !closed);
  ui.composer.disabled = !usable;
  ui.send.disabled = !usable;
  ui.ended.hidden = !closed;
  if (closed) typingSignal?.stop();
  updateCallButtons();
}

// --- sending --------------------------------------------------------------------------------

async function sendText(raw) {
  const text = String(raw || "").trim();
  if (!text || !state.log || state.log.closed) return;
  typingSignal?.stop();
  const key = newKey();
  const record = state.log.addPending(key, text);
  await deliver(record, { key, conversation_id: state.conversationId, text });
}

async function deliver(record, payload) {
  const log = state.log;
  try {
    await sendPending(state.socket, log, record, payload);
  } catch (error) {
    if (state.log !== log) return; // that conversation is gone from the page
    record.retryable = error.retryable;
    log.setPendingState(record, `Not sent. ${describeError(error)}`, {
      failed: true,
      retry: error.retryable ? () => deliver(record, payload) : undefined,
    });
    showError(ui.error, `Your message was not sent. ${describeError(error)}`);
  }
}

async function requestAgent() {
  if (!state.conversationId) return;
  state.agentRequested = true;
  renderHandler();
  try {
    await command(state.socket, "agent.request", {
      key: newKey(),
      conversation_id: state.conversationId,
    });
  } catch (error) {
    showError(ui.error, `Could not reach an agent. ${describeError(error)}`);
  } finally {
    state.agentRequested = false;
    renderHandler();
  }
}

// --- calls ------------------------------------------------------------------------------------
//
// The customer calls from the conversation (docs/protocol.md, "Calls"): the page offers, the
// server answers and is the other end of the media. Until an agent answers, the server
// plays the queue audio (and, for video, a slate); what happens next comes from the
// conversation's log (call.answered, call.held, ...) and from `call.ended`.

const CALL_LIVE = new Set(["connecting", "waiting", "talking", "held"]);

function callActive() {
  return Boolean(state.call && CALL_LIVE.has(state.call.phase));
}

async function startCall(media) {
  if (callActive() || !state.conversationId || !state.log || state.log.closed) return;
  ui.error.hidden = true;
  const call = {
    id: null,
    media,
    phase: "connecting",
    agent: null,
    transferTo: null,
    startedAt: null,
    muted: false,
    agentMuted: false,
    note: "",
    busy: false,
    socketLost: false,
    peer: null,
  };
  call.peer = new CallPeer({
    onTrack: () => renderCall(),
    onConnection: (connection) => {
      call.connection = connection;
      renderCall();
    },
  });
  state.call = call;
  state.earlyCallEvents = [];
  exposeCall(call);
  startCallTimer();
  renderCall();
  let ack;
  try {
    await call.peer.open({ video: media === "video" });
    if (call.peer.cameraError) call.note = `${call.peer.cameraError} The call continues with audio.`;
    renderCall();
    const sdp = await call.peer.offer();
    if (call.phase === "ended") return;
    ack = await callStart(media, sdp);
  } catch (error) {
    if (call.phase === "ended") return;
    const why = error.code ? describeError(error) : error.message;
    finishCall(call, { note: `The call could not be started. ${why}` });
    return;
  }
  if (call.phase === "ended") {
    // Hung up while connecting: the server's side must go too.
    command(state.socket, "call.hangup", { call_id: ack.call_id, key: newKey() }).catch(() => {});
    return;
  }
  call.id = ack.call_id;
  call.media = ack.media || media;
  call.startedAt = Date.now();
  call.phase = "waiting";
  try {
    await call.peer.accept(ack.sdp);
  } catch (error) {
    finishCall(call, { note: `The call could not be connected (${error.message}).` });
    command(state.socket, "call.hangup", { call_id: call.id, key: newKey() }).catch(() => {});
    return;
  }
  const early = state.earlyCallEvents.filter((e) => e.data?.call_id === call.id);
  state.earlyCallEvents = [];
  early.forEach(onCallEvent);
  renderCall();
}

/** call.start; a call the log says is still open (left by an earlier page) is ended first. */
async function callStart(media, sdp) {
  const payload = () => ({ key: newKey(), conversation_id: state.conversationId, media, sdp });
  try {
    return await command(state.socket, "call.start", payload(), { timeoutMs: 10000 });
  } catch (error) {
    if (error.code !== "invalid_state" || !state.logCall) throw error;
    await hangupQuietly(state.logCall.call_id);
    return command(state.socket, "call.start", payload(), { timeoutMs: 10000 });
  }
}

async function hangupQuietly(callId) {
  try {
    await command(state.socket, "call.hangup", { call_id: callId, key: newKey() });
  } catch {
    // not_found: it had ended already
  }
}

// Set when the page is left mid-call, so that the reloaded page can say what became of it.
const LEFT_MID_CALL = "tandem.customer.leftMidCall";

/** The log says a call is open that this page did not start (the page was reloaded
 * mid-call): that call cannot be picked up again, so end it and say so. */
async function endStaleCall() {
  let left = null;
  try {
    left = sessionStorage.getItem(LEFT_MID_CALL);
    sessionStorage.removeItem(LEFT_MID_CALL);
  } catch {
    // storage unavailable: the log still tells
  }
  const open = state.logCall;
  const stale = open && !(state.call && (state.call.id === open.call_id || state.call.phase === "connecting"));
  if (!stale && !(left && !state.call)) return;
  state.call = {
    id: stale ? open.call_id : left,
    media: (stale && open.media) || "audio",
    phase: "ended",
    peer: null,
    note: "Your call ended when the page was reloaded: a call cannot continue across a reload. You can call again.",
  };
  exposeCall(null);
  renderCall();
  if (stale) await hangupQuietly(open.call_id);
}

function endCallAfterReconnect(call) {
  const id = call.id;
  finishCall(call, {
    note: "The connection to the server was interrupted, so your call was ended. You can call again.",
  });
  if (id) hangupQuietly(id);
}

async function hangUp() {
  const call = state.call;
  if (!callActive()) return;
  if (!call.id) {
    finishCall(call, { reason: "customer_hangup" });
    return;
  }
  ui.callHangup.disabled = true;
  try {
    const ack = await command(state.socket, "call.hangup", { call_id: call.id, key: newKey() });
    finishCall(call, ack);
  } catch (error) {
    // not_found: it had ended already; anything else: stop our side anyway.
    finishCall(call, error.code === "not_found" ? {} : { note: `Call ended here. ${describeError(error)}` });
  }
}

/** The call is over: stop the microphone and camera, keep the bar to say why. */
function finishCall(call, { reason, duration_seconds: duration, note } = {}) {
  if (!call || call.phase === "ended") return;
  call.phase = "ended";
  call.endReason = reason || call.endReason;
  if (duration !== undefined) call.duration = duration;
  if (note) call.note = note;
  else if (!reason) call.note = call.note || "";
  call.peer?.close();
  detach(ui.remoteAudio);
  detach(ui.remoteVideo);
  detach(ui.localVideo);
  renderCall();
}

function onCallEndedNotice(payload) {
  const call = state.call;
  if (!payload || !call || payload.call_id !== call.id) return;
  finishCall(call, payload);
}

function onCallEvent(event) {
  const data = event.data || {};
  if (event.type === "call.started") state.logCall = { call_id: data.call_id, media: data.media };
  if (event.type === "call.ended" && state.logCall?.call_id === data.call_id) state.logCall = null;
  const call = state.call;
  if (!callActive()) return;
  const aboutCall = event.type.startsWith("call.") || event.type.startsWith("recording.");
  if (!call.id) {
    // Before the call.start ack: kept for the ack to replay (the rest the ack settles).
    if (aboutCall) state.earlyCallEvents.push(event);
    return;
  }
  if (aboutCall && data.call_id !== call.id) return;
  switch (event.type) {
    case "call.answered":
      call.agent = `agent:${data.agent}`;
      call.transferTo = null;
      call.phase = "talking";
      break;
    case "call.held":
      call.phase = "held";
      break;
    case "call.resumed":
      if (call.agent) call.phase = "talking";
      break;
    case "call.transferred":
      if (String(data.to || "").startsWith("agent:")) call.transferTo = data.to;
      else {
        call.phase = "waiting";
        call.agent = null;
      }
      break;
    case "recording.started":
      call.recording = true;
      break;
    case "call.ended":
      finishCall(call, data);
      return;
    case "handler.changed":
      // Back to the queue or the bot (e.g. the agent was disconnected): queue audio again.
      if (!String(data.to || "").startsWith("agent:")) {
        call.phase = "waiting";
        call.agent = null;
        call.transferTo = null;
      }
      break;
    default:
      return;
  }
  renderCall();
}

async function toggleMute() {
  const call = state.call;
  if (!callActive() || !call.id || call.busy) return;
  const muted = !call.muted;
  call.muted = muted;
  call.peer.setMuted(muted);
  renderCall();
  try {
    await command(state.socket, "call.mute", { call_id: call.id, muted });
  } catch (error) {
    if (state.call !== call || !callActive()) return;
    call.muted = !muted;
    call.peer.setMuted(!muted);
    call.note = `Could not ${muted ? "mute" : "unmute"}. ${describeError(error)}`;
    renderCall();
  }
}

// The agent's microphone as the server applies it (the customer hears silence meanwhile).
function onCallMuted(payload) {
  const call = state.call;
  if (!payload || !callActive() || payload.call_id !== call.id || payload.party !== "agent") return;
  call.agentMuted = Boolean(payload.muted);
  renderCall();
}

async function videoButton() {
  const call = state.call;
  if (!callActive() || !call.id || call.busy) return;
  if (call.peer.sendsVideo) {
    call.peer.setCameraOn(!call.peer.cameraOn);
    renderCall();
    return;
  }
  call.busy = true;
  call.note = "";
  renderCall();
  try {
    if (await call.peer.addCamera()) await renegotiateCall(state.socket, call);
    call.media = "video";
  } catch (error) {
    if (state.call === call) call.note = `Video could not be turned on. ${error.code ? describeError(error) : error.message}`;
  } finally {
    call.busy = false;
    renderCall();
  }
}

async function onVideoAvailable(payload) {
  const call = state.call;
  if (!payload || !callActive() || payload.call_id !== call.id) return;
  if (!call.peer.receiveVideo()) return;
  try {
    await renegotiateCall(state.socket, call);
  } catch (error) {
    call.note = `The agent's video could not be shown. ${describeError(error)}`;
    renderCall();
  }
}

let callTimer = null;

function startCallTimer() {
  clearInterval(callTimer);
  callTimer = setInterval(renderCallTimer, 1000);
}

function renderCallTimer() {
  const call = state.call;
  if (!call) return;
  const end = call.phase === "ended" ? call.endedAt : Date.now();
  const seconds =
    call.phase === "ended" && call.duration !== undefined
      ? call.duration
      : call.startedAt
        ? (end - call.startedAt) / 1000
        : 0;
  ui.callTimer.textContent = formatClock(seconds);
  ui.callTimer.hidden = call.phase === "ended" && !call.startedAt;
  if (call.phase === "ended") clearInterval(callTimer);
}

function callTexts(call) {
  const agentName = call.agent ? names.of(call.agent) : "";
  const handler = state.log?.handler || "";
  switch (call.phase) {
    case "connecting":
      return [
        "Connecting your call…",
        call.media === "video"
          ? "Allow the camera and microphone if your browser asks."
          : "Allow the microphone if your browser asks.",
      ];
    case "waiting": {
      if (handler.startsWith("agent:")) return [`Calling ${names.of(handler)}…`, "Please hold while they answer."];
      const q = state.queue;
      const position =
        q && q.position
          ? `You are number ${q.position} in the queue${formatWaitShort(q.estimated_wait_seconds)}.`
          : "The next available agent will answer.";
      return ["Waiting for an agent", `${position} Please stay on the line.`];
    }
    case "talking":
      return [
        `Talking to ${agentName || "an agent"}`,
        call.transferTo
          ? `Transferring you to ${names.of(call.transferTo)}…`
          : [call.muted ? "You are muted." : "", call.agentMuted ? `${agentName || "The agent"} is muted.` : ""]
              .filter(Boolean)
              .join(" "),
      ];
    case "held":
      return ["On hold", `${agentName || "The agent"} put you on hold. Please stay on the line.`];
    default: {
      const why = describeCallEnd(call.endReason, "customer");
      return ["Call ended", [why, call.note].filter(Boolean).join(". ")];
    }
  }
}

function formatWaitShort(seconds) {
  if (seconds === undefined || seconds === null) return "";
  const s = Math.max(0, Number(seconds));
  return s < 45 ? ", less than a minute" : `, about ${Math.max(1, Math.round(s / 60))} min`;
}

function renderCall() {
  const call = state.call;
  ui.callBar.hidden = !call;
  updateCallButtons();
  if (!call) return;
  if (call.phase === "ended" && !call.endedAt) call.endedAt = Date.now();
  const live = CALL_LIVE.has(call.phase);
  ui.callBar.dataset.phase = call.phase;
  ui.callBar.dataset.media = call.media;
  let [title, detail] = callTexts(call);
  if (live && call.note) detail = [detail, call.note].filter(Boolean).join(" ");
  if (live && call.socketLost) detail = "Connection to the server lost. Reconnecting…";
  else if (live && call.connection === "failed") detail = "The call's connection failed.";
  else if (live && call.connection === "disconnected") detail = "Connection problem: trying to recover…";
  if (live && call.recording) detail = [detail, "This call is being recorded."].filter(Boolean).join(" ");
  if (ui.callState.textContent !== title) ui.callState.textContent = title;
  ui.callDetail.textContent = detail;
  ui.callMute.hidden = !live;
  ui.callHangup.hidden = !live;
  ui.callVideoOn.hidden = !live;
  ui.callDismiss.hidden = live;
  ui.callHangup.disabled = false;
  ui.callMute.disabled = !call.id;
  ui.callMute.textContent = call.muted ? "Unmute" : "Mute";
  ui.callMute.dataset.active = String(Boolean(call.muted));
  const peer = call.peer;
  const sending = Boolean(peer && peer.sendsVideo);
  ui.callVideoOn.disabled = !call.id || call.busy;
  ui.callVideoOn.textContent = !sending ? "Video on" : peer.cameraOn ? "Camera off" : "Camera on";
  // Media: audio always; the video area once a video section exists (ours or theirs).
  const showVideo = live && peer && (peer.receivesVideo || sending);
  ui.callMedia.hidden = !showVideo;
  if (live && peer) {
    attach(ui.remoteAudio, peer.remote);
    if (peer.receivesVideo) attach(ui.remoteVideo, peer.remote);
    ui.localVideo.hidden = !sending;
    if (sending) attach(ui.localVideo, peer.local);
  }
  renderCallTimer();
}

function updateCallButtons() {
  const log = state.log;
  const usable = Boolean(state.socket?.connected && state.conversationId && log && !log.closed);
  const busy = callActive();
  for (const button of [ui.callAudio, ui.callVideo]) {
    button.disabled = !usable || busy;
  }
}

// --- read receipts -----------------------------------------------------------------------

function scheduleRead() {
  clearTimeout(state.readTimer);
  state.readTimer = setTimeout(sendRead, 300);
}

async function sendRead() {
  const log = state.log;
  if (!log || document.visibilityState !== "visible") return;
  const upTo = log.lastOtherMessageSeq;
  if (!upTo || upTo <= Math.max(state.readSent, log.readBySelf || 0)) return;
  state.readSent = upTo;
  try {
    await command(state.socket, "read", {
      key: newKey(),
      conversation_id: log.conversationId,
      up_to_seq: upTo,
    });
  } catch {
    // A lost read receipt is harmless; the next message sends a newer one.
    if (state.readSent === upTo) state.readSent = 0;
  }
}

// --- wiring ---------------------------------------------------------------------------------

ui.loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  login(ui.user.value);
});

wireComposer({
  form: ui.composerForm,
  composer: ui.composer,
  send: sendText,
  typingTarget: () => state.conversationId,
  typing: () => typingSignal,
});

ui.talk.addEventListener("click", requestAgent);
ui.callAudio.addEventListener("click", () => startCall("audio"));
ui.callVideo.addEventListener("click", () => startCall("video"));
ui.callHangup.addEventListener("click", hangUp);
ui.callMute.addEventListener("click", toggleMute);
ui.callVideoOn.addEventListener("click", videoButton);
ui.callDismiss.addEventListener("click", () => {
  if (callActive()) return;
  state.call = null;
  renderCall();
});
// The remote stream carries audio too: the <audio> element plays it, the video stays mute.
ui.remoteVideo.muted = true;
// Leaving the page ends the call: close the connection now rather than let it time out.
window.addEventListener("pagehide", () => {
  const call = state.call;
  if (!callActive()) return;
  if (call.id && state.socket?.connected) {
    state.socket.timeout(1000).emit("call.hangup", { call_id: call.id, key: newKey() }, () => {});
  }
  call.peer?.close();
  try {
    if (call.id) sessionStorage.setItem(LEFT_MID_CALL, call.id);
  } catch {
    // storage unavailable
  }
});
ui.newConversation.addEventListener("click", () => {
  ui.error.hidden = true;
  beginNewConversation();
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") scheduleRead();
});

const preset = userFromUrl();
if (preset) {
  if ([...ui.user.options].some((o) => o.value === preset)) ui.user.value = preset;
  login(preset);
}
