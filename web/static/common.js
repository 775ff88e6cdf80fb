// Shared helpers of the Tandem pages: demo login, idempotency keys, commands with ack and
// retry, safe DOM building, and the conversation log view used by every page.
//
// No build step and no CDN: this file is served as-is by the gateway at /static/common.js.
// User text is only ever set through textContent, never through innerHTML.

/* global io */

// ---------------------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------------------

/**
 * Build an element. `attrs` keys: `class`, `text` (textContent), `dataset` (object),
 * `on<event>` (listener), `hidden`/`disabled` (booleans), anything else as an attribute.
 * Children may be nodes, strings (text nodes) or null/undefined/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Replace the children of `node`, skipping null/undefined/false (replaceChildren would
 * print them as text) and turning strings into text nodes. */
export function fill(node, ...children) {
  node.replaceChildren(
    ...children
      .flat()
      .filter((c) => c !== undefined && c !== null && c !== false)
      .map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))),
  );
  return node;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** "branch_hours" -> "Branch hours"; "branches.hours" -> "Branches: hours". */
export function humanize(value) {
  if (!value) return "";
  const text = String(value)
    .split(".")
    .map((part) => part.replace(/[_-]+/g, " ").trim())
    .filter(Boolean)
    .join(": ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function formatTime(iso) {
  const date = iso ? new Date(iso) : new Date();
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** 75 -> "about 2 min", 20 -> "under a minute". */
export function formatWait(seconds) {
  if (seconds === undefined || seconds === null || Number.isNaN(Number(seconds))) return "";
  const s = Math.max(0, Number(seconds));
  if (s < 45) return "less than a minute";
  const minutes = Math.max(1, Math.round(s / 60));
  return `about ${minutes} min`;
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return `${m}m ${String(s % 60).padStart(2, "0")}s`;
}

// ---------------------------------------------------------------------------------------
// Keys, login, sockets
// ---------------------------------------------------------------------------------------

/** A fresh idempotency key. crypto.randomUUID needs a secure context (https or localhost),
 * so fall back to getRandomValues, which is available everywhere. */
export function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") {
    try {
      return crypto.randomUUID();
    } catch {
      // not a secure context: fall through
    }
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class CommandError extends Error {
  constructor(code, message, { retryable = false } = {}) {
    super(message || code);
    this.code = code;
    this.retryable = retryable;
  }
}

/** POST /api/v1/demo/login -> {token, role, id, name, expires_at}. */
export async function demoLogin(username) {
  let response;
  try {
    response = await fetch("/api/v1/demo/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username }),
    });
  } catch (error) {
    throw new CommandError("network", `Cannot reach the server (${error.message})`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON
  }
  if (!response.ok) {
    const err = body && body.error ? body.error : {};
    const fallback =
      response.status === 404
        ? "Demo login is not enabled on this server (start it with --demo)"
        : `Login failed (HTTP ${response.status})`;
    throw new CommandError(err.code || `http_${response.status}`, err.message || fallback);
  }
  return body;
}

/** GET a REST route with the bearer token; returns the JSON body or throws CommandError. */
export async function apiGet(path, token) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON
  }
  if (!response.ok) {
    const err = (body && body.error) || {};
    throw new CommandError(err.code || `http_${response.status}`, err.message || `HTTP ${response.status}`);
  }
  return body;
}

/** The demo user to log in as: ?user=… in the URL, else null. */
export function userFromUrl() {
  const value = new URLSearchParams(window.location.search).get("user");
  return value ? value.trim().toLowerCase() : null;
}

/** Put ?user=… in the address bar (without reloading) so a reload logs in again. */
export function rememberUserInUrl(username) {
  const url = new URL(window.location.href);
  url.searchParams.set("user", username);
  window.history.replaceState(null, "", url);
}

/**
 * Send a pending message (`record`, from `log.addPending`) and show how it goes: waiting,
 * retrying, sent. The ack commits it to the log. Resolves with the ack; throws what
 * `command` throws, for the page to show. Retrying reuses the same key: the server never
 * records the message twice.
 */
export async function sendPending(socket, log, record, payload) {
  log.setPendingState(record, "Sending…");
  const ack = await command(socket, "message.send", payload, {
    onState: (step, info) => {
      if (step === "waiting") log.setPendingState(record, "Waiting for the connection…");
      else if (step === "retrying") log.setPendingState(record, `Retrying (${describeError(info.error)})…`);
    },
  });
  log.acked(record, ack.seq, ack.at);
  if (log.pending.includes(record)) log.setPendingState(record, "Sent");
  return ack;
}

/** The login card and header elements every page has (ids shared by the three pages). */
export function pageElements() {
  return {
    login: $("#login"),
    loginForm: $("#login-form"),
    loginError: $("#login-error"),
    loginButton: $("#login-button"),
    user: $("#user"),
    whoami: $("#whoami"),
    status: $("#status"),
  };
}

/**
 * The demo sign-in every page shares: log `username` in, check the role, show who is
 * signed in (`whoami(session)` gives the elements) and hide the login card. Returns the
 * session, or null after showing the error on the login card.
 */
export async function signIn(ui, username, { role, whoami }) {
  ui.loginButton.disabled = true;
  ui.loginError.hidden = true;
  try {
    const session = await demoLogin(username);
    if (session.role !== role) {
      throw new Error(`${username} is not a ${role} (role: ${session.role})`);
    }
    rememberUserInUrl(username);
    ui.whoami.replaceChildren(...whoami(session));
    ui.whoami.hidden = false;
    ui.login.hidden = true;
    return session;
  } catch (error) {
    ui.loginError.textContent = describeError(error);
    ui.loginError.hidden = false;
    ui.loginButton.disabled = false;
    return null;
  }
}

/**
 * Open `namespace` for a signed-in demo user and keep its connection status in
 * `statusEl`. An expired token logs in again by itself; `onSession` gets the new session.
 */
export function openSession(namespace, username, session, statusEl, onSession) {
  const socket = connect(namespace, session.token);
  trackConnection(socket, statusEl, {
    onRefused: async (data) => {
      if (data.code !== "unauthorized") return null;
      const fresh = await demoLogin(username);
      onSession(fresh);
      return fresh.token;
    },
  });
  return socket;
}

/** Open a namespace with the JWT in the connect auth payload, websocket transport only. */
export function connect(namespace, token) {
  if (typeof io !== "function") {
    throw new Error("socket.io client missing: /vendor/socket.io.min.js did not load");
  }
  return io(namespace, {
    auth: { token },
    transports: ["websocket"],
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
}

/**
 * Keep `statusEl` in step with the socket: data-state is connecting | connected |
 * reconnecting | offline | refused. `onRefused(err)` may return a new token (e.g. after a
 * fresh demo login); the socket then tries again with it.
 */
export function trackConnection(socket, statusEl, { onRefused } = {}) {
  const set = (state, text) => {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    statusEl.title = text;
  };
  set("connecting", "Connecting…");
  let refusals = 0;
  let serverLeaving = false;
  socket.on("connect", () => {
    refusals = 0;
    serverLeaving = false;
    set("connected", "Connected");
  });
  socket.on("disconnect", (reason) => {
    if (reason === "io client disconnect" && !serverLeaving) set("offline", "Disconnected");
    else set("reconnecting", "Reconnecting…");
  });
  // The node is stopping: leave now and reconnect (to another node, or to this one once it
  // is back) rather than wait on a socket that no longer answers. The browser client does
  // not act on engine.io's close packet over websocket, so this must be done here. Pages
  // resume their conversations on "connect", as after any reconnect.
  socket.on("server.shutdown", () => {
    serverLeaving = true;
    socket.disconnect();
    set("reconnecting", "Server restarting… reconnecting");
    setTimeout(() => socket.connect(), 300 + Math.random() * 700);
  });
  socket.io.on("reconnect_attempt", () => set("reconnecting", "Reconnecting…"));
  socket.on("connect_error", async (err) => {
    const data = err && err.data ? err.data : null;
    if (!data || !data.code) {
      // A transport problem: socket.io keeps trying by itself.
      set("reconnecting", "Reconnecting…");
      return;
    }
    set("refused", `Refused: ${data.message || data.code}`);
    if (onRefused && refusals < 2) {
      refusals += 1;
      try {
        const token = await onRefused(data);
        if (token) {
          socket.auth = { token };
          setTimeout(() => socket.connect(), 500 * refusals);
        }
      } catch (error) {
        set("refused", `Refused: ${error.message}`);
      }
    }
  });
}

function waitConnected(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve) => socket.once("connect", resolve));
}

const RETRYABLE = new Set(["timeout", "conflict", "retry", "disconnected"]);

/**
 * Emit a command and wait for its ack. Retries (same payload, so the same idempotency
 * `key`) on a timeout or a `conflict`/`retry` error, waiting for the connection first if
 * it is down. Resolves with the ok ack; rejects with CommandError (`retryable` tells
 * whether trying again later makes sense).
 *
 * `onState(state, info)` is told: "waiting" (offline), "sending" (attempt n), "retrying".
 */
export async function command(socket, event, payload, options = {}) {
  const { timeoutMs = 5000, attempts = 4, onState } = options;
  let last = null;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    if (!socket.connected) onState?.("waiting", { attempt });
    await waitConnected(socket);
    onState?.("sending", { attempt });
    let ack;
    try {
      ack = await socket.timeout(timeoutMs).emitWithAck(event, payload);
    } catch {
      ack = {
        ok: false,
        error: { code: "timeout", message: `no answer from the server within ${timeoutMs / 1000} s` },
      };
    }
    if (ack && ack.ok === true) return ack;
    const error = (ack && ack.error) || { code: "bad_ack", message: "unexpected answer from the server" };
    last = error;
    if (!RETRYABLE.has(error.code)) throw new CommandError(error.code, error.message);
    if (attempt < attempts) {
      onState?.("retrying", { attempt, error });
      await sleep(Math.min(400 * 2 ** (attempt - 1), 4000));
    }
  }
  throw new CommandError(last.code, last.message, { retryable: true });
}

/** Fire-and-forget for ephemeral commands (typing): acked, but nobody waits. */
export function signal(socket, event, payload) {
  if (!socket.connected) return;
  socket.timeout(3000).emit(event, payload, () => {});
}

/** A human sentence for a failed command. */
export function describeError(error) {
  const code = error && error.code ? error.code : "error";
  const message = error && error.message ? error.message : String(error);
  const known = {
    timeout: "The server did not answer",
    message_too_long: "Message too long",
    invalid_payload: "Rejected",
    conversation_closed: "The conversation is closed",
    forbidden: "Not allowed",
    not_found: "Not found",
    invalid_state: "Not possible right now",
    conflict: "Someone else changed it first",
    retry: "Server busy",
    internal: "Server error",
    network: "Network error",
  };
  const label = known[code] || humanize(code);
  return message && message !== code ? `${label}: ${message}` : label;
}

/** A dismissible error line in `container` (role=alert, so screen readers announce it). */
export function showError(container, error) {
  const text = typeof error === "string" ? error : describeError(error);
  fill(
    container,
    h("span", { text }),
    h("button", {
      type: "button",
      class: "link-button",
      "aria-label": "Dismiss",
      text: "Dismiss",
      onclick: () => {
        container.hidden = true;
      },
    }),
  );
  container.hidden = false;
}

export function toast(text, kind = "info") {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = h("div", { class: `toast toast-${kind}`, text });
  box.append(item);
  setTimeout(() => item.classList.add("leaving"), 4000);
  setTimeout(() => item.remove(), 4600);
}

/** Why a call ended (`call.ended` reason), for the customer or for staff. */
export function describeCallEnd(reason, perspective = "customer") {
  const customer = perspective === "customer";
  const known = {
    customer_hangup: customer ? "You hung up" : "The customer hung up",
    agent_hangup: customer ? "The agent ended the call" : "The agent ended the call",
    customer_closed: customer ? "The call's connection was closed" : "The customer's connection closed",
    customer_failed: customer ? "The call's connection was lost" : "The customer's connection was lost",
    conversation_closed: "The conversation was closed",
    shutdown: "The service restarted",
    not_started: "The call could not be set up",
  };
  if (!reason) return "";
  return known[reason] || humanize(reason);
}

// ---------------------------------------------------------------------------------------
// Actors and names
// ---------------------------------------------------------------------------------------

/** customer | bot | agent | system, as data-actor-kind. */
export function actorKind(actor) {
  if (!actor) return "system";
  if (actor.startsWith("customer:")) return "customer";
  if (actor.startsWith("agent:") || actor.startsWith("supervisor:")) return "agent";
  if (actor === "bot" || actor === "digital_human") return "bot";
  return "system";
}

/** Display names by actor ("agent:agent-anna" -> "Anna"), filled as pages learn them. */
export class Names {
  constructor() {
    this.known = new Map();
  }

  set(actor, name) {
    if (actor && name) this.known.set(actor, name);
  }

  of(actor) {
    if (!actor) return "";
    if (this.known.has(actor)) return this.known.get(actor);
    if (actor === "bot") return "Assistant";
    if (actor === "digital_human") return "Digital assistant";
    if (actor === "system") return "Tandem";
    const id = actor.includes(":") ? actor.slice(actor.indexOf(":") + 1) : actor;
    // Best effort for ids like "agent-anna" or "cust-alice": the last word, capitalised.
    const words = id.split(/[-_.@]/).filter(Boolean);
    const word = words.length ? words[words.length - 1] : id;
    return word.charAt(0).toUpperCase() + word.slice(1);
  }
}

/** Later handoff context wins, but an empty value never hides an earlier one (a transfer's
 * context may carry only a note while the escalation had the intent and the summary). */
export function mergeContext(...contexts) {
  const merged = {};
  for (const context of contexts) {
    if (!context) continue;
    for (const [name, value] of Object.entries(context)) {
      const empty =
        value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length);
      if (!empty) merged[name] = value;
    }
  }
  return Object.keys(merged).length ? merged : null;
}

// ---------------------------------------------------------------------------------------
// The conversation log view
// ---------------------------------------------------------------------------------------

const HANDLER_AGENT = "agent:";

/**
 * Renders one conversation's durable events into `container`, in seq order, each seq once.
 * `self` is the viewer's actor ("customer:cust-alice", "agent:agent-anna") and
 * `perspective` is "customer", "agent" or "supervisor": it decides the wording of notices.
 *
 * Messages the viewer sends are shown at once as pending bubbles (`addPending`) and become
 * the logged message when its event arrives.
 */
export class ConversationLog {
  constructor({ conversationId, container, self, perspective, names, onSuggestion, onGap }) {
    this.conversationId = conversationId;
    this.container = container;
    this.self = self;
    this.perspective = perspective;
    this.names = names || new Names();
    this.onSuggestion = onSuggestion;
    this.onGap = onGap;
    this.lastSeq = 0;
    this.handler = null;
    this.closed = false;
    this.context = null; // the latest handoff context seen in the log
    this.customerId = null;
    this.pending = []; // {key, text, el, seq}
    // Our own messages known from their acks (the server does not echo them back), kept
    // until every earlier event has arrived so the log stays in seq order.
    this.ownAhead = new Map();
    this.lastOtherMessageSeq = 0; // newest message from someone else
    this.readByOthers = 0; // highest up_to_seq another participant has read
    this.readBySelf = 0; // highest up_to_seq the viewer has already marked read
    this.callAgents = new Map(); // call_id -> the agent who last answered it
  }

  reset() {
    this.container.replaceChildren();
    this.lastSeq = 0;
    this.handler = null;
    this.closed = false;
    this.pending = [];
    this.ownAhead = new Map();
    this.lastOtherMessageSeq = 0;
    this.readByOthers = 0;
    this.readBySelf = 0;
    this.callAgents = new Map();
  }

  /**
   * Take one `event`. Returns {accepted, message, fromOthers} or {accepted:false, gap}.
   */
  add(event) {
    const seq = Number(event.seq);
    if (!Number.isInteger(seq) || seq <= this.lastSeq) return { accepted: false };
    if (seq > this.lastSeq + 1) this.drainOwn();
    if (seq > this.lastSeq + 1) {
      // Something was missed: ask for everything after what we have; this one comes again.
      this.onGap?.(this.lastSeq);
      return { accepted: false, gap: true };
    }
    this.lastSeq = seq;
    const result = { accepted: true, message: false, fromOthers: false };
    switch (event.type) {
      case "message.sent":
        this.renderMessage(event);
        result.message = true;
        result.fromOthers = event.actor !== this.self;
        if (result.fromOthers) this.lastOtherMessageSeq = seq;
        break;
      case "message.read":
        if (event.actor !== this.self) {
          this.readByOthers = Math.max(this.readByOthers, Number(event.data?.up_to_seq) || 0);
          this.updateReceipts();
        } else {
          this.readBySelf = Math.max(this.readBySelf, Number(event.data?.up_to_seq) || 0);
        }
        break;
      case "handler.changed":
        this.handler = event.data?.to ?? null;
        if (this.handler !== "bot") {
          for (const chips of this.container.querySelectorAll(".chips")) chips.remove();
        }
        if (event.data?.context && Object.keys(event.data.context).length) {
          // A new escalation starts a new story; a transfer adds to the current one.
          const base = event.data.reason === "escalation" ? null : this.context;
          this.context = mergeContext(base, event.data.context);
        }
        this.renderNotice(event, this.handlerNotice(event));
        break;
      case "conversation.started":
        this.customerId = event.data?.customer_id ?? null;
        this.renderNotice(event, `Conversation started · ${formatTime(event.at)}`);
        break;
      case "conversation.closed":
        this.closed = true;
        this.handler = "none";
        this.renderNotice(event, this.closedNotice(event));
        break;
      case "ticket.filed":
        this.renderNotice(event, this.ticketNotice(event));
        break;
      case "channel.opened":
      case "channel.closed":
        // A call's channel opens and closes with it: its call.* notices say it better.
        this.renderNotice(
          event,
          event.data?.channel === "call"
            ? null
            : `${humanize(event.data?.channel || "channel")} ${event.type === "channel.opened" ? "started" : "ended"}`,
        );
        break;
      case "call.started":
      case "call.answered":
      case "call.held":
      case "call.resumed":
      case "call.upgraded":
      case "call.transferred":
      case "call.ended":
      case "recording.started":
      case "recording.saved":
        this.renderNotice(event, this.callNotice(event));
        break;
      case "transcript.segment":
        // What was said on the call, for the staff's view; the customer heard it live.
        this.renderNotice(event, this.perspective === "customer" ? null : this.transcriptLine(event));
        break;
      default:
        this.renderNotice(event, humanize(event.type));
    }
    this.drainOwn();
    return result;
  }

  /** Commit own messages whose turn has come (all earlier seqs are in the log). */
  drainOwn() {
    for (const seq of this.ownAhead.keys()) {
      if (seq <= this.lastSeq) this.ownAhead.delete(seq);
    }
    const next = this.ownAhead.get(this.lastSeq + 1);
    if (next) {
      this.ownAhead.delete(next.seq);
      this.add(next); // drains the rest, if any, on its way out
    }
  }

  handlerNotice(event) {
    const { from, to, reason } = event.data || {};
    const toName = event.data?.to_name || this.names.of(to);
    const mine = this.perspective === "agent" && to === this.self;
    const wasMine = this.perspective === "agent" && from === this.self;
    if (this.perspective === "customer") {
      if (to === "queue") {
        if (reason === "agent_lost") return "Your agent was disconnected. Waiting for another agent";
        if (reason === "transfer") return "Transferring you to another agent. Waiting for an agent";
        return "Waiting for an agent";
      }
      if (to && to.startsWith(HANDLER_AGENT)) return `${toName} joined the conversation`;
      if (to === "bot") return reason === "start" ? null : "You are back with the assistant";
      if (to === "digital_human") return "The digital assistant joined";
      return null;
    }
    // agent and supervisor views
    if (to === "queue") {
      if (wasMine) return "You transferred the conversation to the queue";
      if (reason === "agent_lost") return "Agent disconnected; back in the queue";
      if (reason === "transfer") return "Transferred to the queue";
      return "Customer asked for a person; waiting in the queue";
    }
    if (to && to.startsWith(HANDLER_AGENT)) {
      if (mine) return reason === "transfer" ? "Transferred to you" : "You joined the conversation";
      if (wasMine) return `You transferred the conversation to ${toName}`;
      return `${toName} joined the conversation`;
    }
    if (to === "bot") {
      if (reason === "start") return "Assistant answering";
      return wasMine ? "You handed the conversation back to the assistant" : "Handed back to the assistant";
    }
    if (to === "digital_human") return "Digital assistant joined";
    return null;
  }

  callNotice(event) {
    const data = event.data || {};
    const customer = this.perspective === "customer";
    const who = (actor) => (actor === this.self ? "You" : this.names.of(actor));
    const video = data.media === "video";
    switch (event.type) {
      case "call.started":
        if (customer) return `You started ${video ? "a video call" : "a call"}`;
        return `${who(event.actor)} started ${video ? "a video call" : "a call"} · ${formatTime(event.at)}`;
      case "call.answered": {
        // The same agent answering again rejoins (their connection had dropped).
        const agent = `agent:${data.agent}`;
        const verb = this.callAgents.get(data.call_id) === agent ? "rejoined" : "answered";
        this.callAgents.set(data.call_id, agent);
        return agent === this.self ? `You ${verb} the call` : `${this.names.of(agent)} ${verb} the call`;
      }
      case "call.held":
        return customer ? "Your call is on hold" : "Call on hold";
      case "call.resumed":
        return customer ? "Your call was taken off hold" : "Call resumed";
      case "call.upgraded":
        return customer ? "Video turned on" : "The call now has video";
      case "call.transferred": {
        const to = data.to || "";
        if (customer) {
          if (to.startsWith(HANDLER_AGENT)) return `Your call is being transferred to ${this.names.of(to)}`;
          return "The agent left the call. Please hold for the next available agent";
        }
        const target = to.startsWith(HANDLER_AGENT) ? this.names.of(to) : to === "queue" ? "the queue" : "the assistant";
        const from = data.from === this.self ? "You" : this.names.of(data.from);
        return `${from} transferred the call to ${to === this.self ? "you" : target}`;
      }
      case "recording.started":
        if (customer) return "This call is being recorded, with your consent";
        return `${who(event.actor)} started recording the call (the customer consented)`;
      case "recording.saved":
        return customer ? null : `Recording saved (${formatDuration(data.duration_seconds)})`;
      case "call.ended": {
        const reason = describeCallEnd(data.reason, this.perspective);
        return `Call ended · ${formatDuration(data.duration_seconds)}${reason ? ` · ${reason}` : ""}`;
      }
      default:
        return humanize(event.type);
    }
  }

  transcriptLine(event) {
    const { speaker, text } = event.data || {};
    const who = speaker === "customer" ? "Customer" : speaker === this.self ? "You" : this.names.of(speaker);
    return `🎙 ${who}: “${text || ""}”`;
  }

  ticketNotice(event) {
    if (this.perspective === "customer") return humanize(event.type);
    const ticket = event.data?.ticket || {};
    const who = event.actor === this.self ? "you" : this.names.of(event.actor);
    const where = [ticket.category, ticket.sub_category].filter(Boolean).join(" · ");
    return `Ticket filed${who ? ` by ${who}` : ""}${where ? ` (${where})` : ""}`;
  }

  closedNotice(event) {
    const reason = event.data?.reason;
    const by = event.actor && event.actor !== "system" ? this.names.of(event.actor) : null;
    if (this.perspective === "customer") {
      return "This conversation has ended. Thank you for contacting us";
    }
    const who = event.actor === this.self ? "you" : by;
    return `Conversation closed${who ? ` by ${who}` : ""}${reason ? ` (${humanize(reason)})` : ""}`;
  }

  renderNotice(event, text) {
    // Notices still get an element (hidden when there is nothing to say) so every seq
    // has a place and the order stays obvious in the DOM.
    const el = h(
      "div",
      {
        class: "msg notice",
        dataset: { seq: String(event.seq), actorKind: "system", type: event.type },
        hidden: !text,
      },
      h("span", { text: text || "" }),
    );
    this.insertCommitted(el);
  }

  renderMessage(event) {
    const kind = actorKind(event.actor);
    const mine = event.actor === this.self;
    const text = String(event.data?.text ?? "");

    // Our own message: adopt its pending bubble rather than showing it twice.
    if (mine) {
      const pending =
        this.pending.find((p) => p.seq === event.seq) ||
        this.pending.find((p) => p.seq === undefined && p.text === text && !p.failed);
      if (pending) {
        this.pending = this.pending.filter((p) => p !== pending);
        const el = pending.el;
        el.classList.remove("pending", "failed");
        el.dataset.seq = String(event.seq);
        el.dataset.type = event.type;
        el.querySelector(".meta-state")?.replaceChildren();
        const time = el.querySelector(".time");
        if (time) time.textContent = formatTime(event.at);
        this.insertCommitted(el);
        this.updateReceipts();
        return;
      }
    }

    // Suggestions belong to the newest message only.
    for (const chips of this.container.querySelectorAll(".chips")) chips.remove();

    const el = this.bubble({ kind, mine, text, actor: event.actor, at: event.at });
    el.dataset.seq = String(event.seq);
    el.dataset.type = event.type;
    const data = event.data || {};
    if (kind === "bot" && data.kind) el.dataset.botKind = data.kind;
    if (Array.isArray(data.suggestions) && data.suggestions.length && this.onSuggestion && !mine) {
      const chips = h(
        "div",
        { class: "chips", role: "group", "aria-label": "Suggested replies" },
        data.suggestions.map((s) =>
          h("button", {
            type: "button",
            class: "chip",
            text: String(s),
            onclick: () => this.onSuggestion(String(s)),
          }),
        ),
      );
      el.append(chips);
    }
    this.insertCommitted(el);
    if (mine) this.updateReceipts();
  }

  bubble({ kind, mine, text, actor, at }) {
    const who = mine ? "You" : this.names.of(actor);
    const label =
      kind === "bot" && this.perspective === "customer" ? "Assistant" : kind === "bot" ? "Bot" : who;
    return h(
      "div",
      {
        class: `msg bubble ${mine ? "mine" : "theirs"} kind-${kind}`,
        dataset: { actorKind: kind, actor: actor || "" },
      },
      h("div", { class: "who", text: label }),
      h("div", { class: "text", text }),
      h(
        "div",
        { class: "meta" },
        h("span", { class: "time", text: formatTime(at) }),
        h("span", { class: "meta-state" }),
      ),
    );
  }

  /** Show a message the viewer is sending; returns the pending record. */
  addPending(key, text) {
    const el = this.bubble({ kind: actorKind(this.self), mine: true, text, actor: this.self });
    el.classList.add("pending");
    el.dataset.key = key;
    const record = { key, text, el, seq: undefined, failed: false };
    this.pending.push(record);
    this.setPendingState(record, "Sending…");
    this.container.append(el);
    this.scrollToEnd();
    return record;
  }

  /**
   * The ack arrived. The server does not send our own message back as an event: the ack's
   * seq and time make it one, committed as soon as every earlier event is in.
   */
  acked(record, seq, at) {
    record.seq = seq;
    if (seq > this.lastSeq) {
      this.ownAhead.set(seq, {
        conversation_id: this.conversationId,
        seq,
        type: "message.sent",
        actor: this.self,
        at: at || new Date().toISOString(),
        data: { text: record.text },
      });
      this.drainOwn();
      return;
    }
    if (seq <= this.lastSeq && this.pending.includes(record)) {
      // The event came and went without matching (e.g. edited text): drop the duplicate.
      const shown = this.container.querySelector(`.msg[data-seq="${seq}"]`);
      if (shown) {
        this.pending = this.pending.filter((p) => p !== record);
        record.el.remove();
      }
    }
  }

  setPendingState(record, text, { failed = false, retry } = {}) {
    record.failed = failed;
    record.el.classList.toggle("failed", failed);
    const state = record.el.querySelector(".meta-state");
    if (!state) return;
    const parts = [h("span", { text })];
    if (retry) {
      parts.push(
        h("button", { type: "button", class: "link-button retry", text: "Retry", onclick: retry }),
      );
    }
    fill(state, parts);
  }

  insertCommitted(el) {
    // Logged events go after the logged ones and before the bubbles still being sent.
    const firstPending = this.container.querySelector(".msg.pending");
    if (firstPending) this.container.insertBefore(el, firstPending);
    else this.container.append(el);
    this.scrollToEnd();
  }

  updateReceipts() {
    // "Read" under the newest own message the other side has read.
    for (const old of this.container.querySelectorAll(".receipt")) old.remove();
    if (!this.readByOthers) return;
    const mine = [...this.container.querySelectorAll(".msg.mine[data-seq]")].filter(
      (el) => Number(el.dataset.seq) <= this.readByOthers,
    );
    const last = mine[mine.length - 1];
    if (last) last.querySelector(".meta")?.append(h("span", { class: "receipt", text: "Read" }));
  }

  scrollToEnd() {
    const box = this.container.closest(".scroll") || this.container;
    box.scrollTop = box.scrollHeight;
  }
}

/**
 * Sends `typing` {conversation_id, active}: active once when the user starts typing,
 * inactive after `idleMs` without a keystroke or when the message is sent.
 */
export class TypingSignal {
  constructor(socket, idleMs = 2500) {
    this.socket = socket;
    this.idleMs = idleMs;
    this.activeFor = null;
    this.timer = null;
  }

  input(conversationId) {
    if (!conversationId) return;
    if (this.activeFor && this.activeFor !== conversationId) this.stop();
    if (!this.activeFor) {
      this.activeFor = conversationId;
      signal(this.socket, "typing", { conversation_id: conversationId, active: true });
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.stop(), this.idleMs);
  }

  stop() {
    clearTimeout(this.timer);
    if (this.activeFor) {
      signal(this.socket, "typing", { conversation_id: this.activeFor, active: false });
      this.activeFor = null;
    }
  }
}

/** Shows "<name> is typing…" in `el` and hides it again if the "stopped" never comes. */
export class TypingIndicator {
  constructor(el, names) {
    this.el = el;
    this.names = names;
    this.timer = null;
  }

  update({ actor, active }) {
    clearTimeout(this.timer);
    if (!active) {
      this.hide();
      return;
    }
    const name = actor === "bot" ? "The assistant" : this.names.of(actor);
    this.el.replaceChildren(
      h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
      h("span", { text: `${name} is typing…` }),
    );
    // The line keeps its height either way, so the log above never jumps.
    this.el.classList.add("active");
    this.timer = setTimeout(() => this.hide(), 8000);
  }

  hide() {
    clearTimeout(this.timer);
    this.el.classList.remove("active");
    this.el.replaceChildren();
  }
}

/** Enter sends, Shift+Enter is a new line. */
export function enterToSend(textarea, send) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
}

/**
 * The message composer shared by the customer and agent pages: Enter sends, Shift+Enter
 * breaks the line, the box grows with its text, and typing is signalled while it has any.
 * `send(text)` sends; `typingTarget()` names the conversation being typed in; `typing()`
 * returns the page's TypingSignal (it changes when the page reconnects).
 */
export function wireComposer({ form, composer, send, typingTarget, typing }) {
  const autosize = () => {
    composer.style.height = "auto";
    composer.style.height = `${Math.min(composer.scrollHeight, 160)}px`;
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = composer.value;
    if (!text.trim()) return;
    composer.value = "";
    autosize();
    send(text);
    composer.focus();
  });
  enterToSend(composer, () => form.requestSubmit());
  composer.addEventListener("input", () => {
    autosize();
    if (composer.value.trim()) typing()?.input(typingTarget());
    else typing()?.stop();
  });
  composer.addEventListener("blur", () => typing()?.stop());
}
