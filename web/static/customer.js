// The customer chat widget: demo login, one conversation, bot and agent in the same log.
import {
  $,
  command,
  ConversationLog,
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
  });
}

// --- conversation ----------------------------------------------------------------------

async function onConnect() {
  updateComposer();
  if (!state.connectedBefore || !state.conversationId) {
    state.connectedBefore = true;
    await startConversation();
  } else {
    await resume();
  }
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
