// The agent workspace: presence, timed offers, assigned conversations with their handoff
// context, the actions an agent takes (reply, hand back, transfer, close), and the ticket
// they file for each conversation, also in wrap-up after it closed.
import { attach, CallPeer, detach, exposeCall, formatClock, renegotiateCall } from "./call.js";
import {
  $,
  apiGet,
  command,
  ConversationLog,
  describeCallEnd,
  describeError,
  fill,
  formatTime,
  h,
  humanize,
  mergeContext,
  Names,
  pageElements,
  newKey,
  openSession,
  sendPending,
  showError,
  signIn,
  toast,
  TypingIndicator,
  TypingSignal,
  userFromUrl,
  wireComposer,
} from "./common.js";

const ui = {
  ...pageElements(),
  workspace: $("#workspace"),
  presence: $("#presence"),
  presenceStatus: $("#presence-status"),
  presenceLoad: $("#presence-load"),
  presenceToggle: $("#presence-toggle"),
  offers: $("#offers"),
  offersEmpty: $("#offers-empty"),
  offerCount: $("#offer-count"),
  conversations: $("#conversations"),
  conversationsEmpty: $("#conversations-empty"),
  noSelection: $("#no-selection"),
  view: $("#conversation-view"),
  convCustomer: $("#conv-customer"),
  convState: $("#conv-state"),
  convAvatar: $("#conv-avatar"),
  context: $("#context"),
  messages: $("#messages"),
  typing: $("#typing"),
  transcriptLive: $("#transcript-live"),
  error: $("#error"),
  composerForm: $("#composer-form"),
  composer: $("#composer"),
  send: $("#send"),
  handback: $("#handback"),
  transfer: $("#transfer"),
  close: $("#close"),
  transferPanel: $("#transfer-panel"),
  transferTarget: $("#transfer-target"),
  transferNote: $("#transfer-note"),
  transferCancel: $("#transfer-cancel"),
  ticket: $("#ticket"),
  ticketBody: $("#ticket-body"),
  ticketToggle: $("#ticket-toggle"),
  ticketHide: $("#ticket-hide"),
  callJoin: $("#call-join"),
  softphone: $("#softphone"),
  softphoneRecording: $("#softphone-recording"),
  softphoneAvatar: $("#softphone-avatar"),
  softphoneCustomer: $("#softphone-customer"),
  softphoneState: $("#softphone-state"),
  softphoneTimer: $("#softphone-timer"),
  softphoneMedia: $("#softphone-media"),
  softphoneNote: $("#softphone-note"),
  softphoneConsent: $("#softphone-consent"),
  softphoneControls: $("#softphone-controls"),
  softphoneAfter: $("#softphone-after"),
  softphoneDismiss: $("#softphone-dismiss"),
  remoteVideo: $("#agent-remote-video"),
  localVideo: $("#agent-local-video"),
  remoteAudio: $("#agent-remote-audio"),
  callMute: $("#call-mute"),
  callHold: $("#call-hold"),
  callTransfer: $("#call-transfer"),
  callRecord: $("#call-record"),
  callVideoOn: $("#call-video-on"),
  callHangup: $("#call-hangup"),
  callRejoin: $("#call-rejoin"),
  recordConfirm: $("#record-confirm"),
  recordCancel: $("#record-cancel"),
  incoming: $("#incoming-call"),
  incomingTitle: $("#incoming-title"),
  incomingCustomer: $("#incoming-customer"),
  incomingContext: $("#incoming-context"),
  incomingBusy: $("#incoming-busy"),
  incomingAccept: $("#incoming-accept"),
  incomingDecline: $("#incoming-decline"),
};

const PRESENCE_LABELS = {
  ready: "Ready",
  not_ready: "Not ready",
  busy: "Busy",
  wrap_up: "Wrap-up",
  offline: "Offline",
};

const ENDED_LABELS = {
  handback: "Handed back to the assistant",
  transfer: "Transferred",
  close: "Closed",
  closed: "Closed",
  agent_lost: "Re-queued (you were offline)",
};

const names = new Names();
const state = {
  session: null,
  socket: null,
  self: null,
  presence: { status: "offline", load: 0, capacity: 0, conversations: [] },
  offers: new Map(), // offer_id -> {offer, key, el, deadline, timer}
  conversations: new Map(), // conversation_id -> conv
  selected: null,
  connectedBefore: false,
  agents: [],
  accepted: new Set(), // conversations we accepted: their `assigned` is no surprise
  // The softphone's call: {id, conversationId, media, phase, peer, ...}; phase is
  // connecting | talking | held | transferring | left | ended.
  call: null,
  // Calls ringing for us: call_id (from call.incoming) or "offer:<id>" (an offer whose
  // context has `call`) -> {key, callId, offerId, conversationId, customer, media, context, dismissed}
  ringing: new Map(),
  autoAnswer: new Set(), // conversations whose call is answered as soon as it rings
};

let typingSignal = null;
const typingIndicator = new TypingIndicator(ui.typing, names);

// --- login -------------------------------------------------------------------------------

async function login(username) {
  const session = await signIn(ui, username, {
    role: "agent",
    whoami: (session) => [
      h("span", { text: session.name }),
      h("a", { href: "/agent", class: "link-button", text: "Switch" }),
    ],
  });
  if (!session) return;
  state.session = session;
  state.self = `agent:${session.id}`;
  names.set(state.self, session.name);
  ui.workspace.hidden = false;
  ui.presence.hidden = false;
  openSocket(username);
  loadAgents();
}

async function loadAgents() {
  try {
    const body = await apiGet("/api/v1/agents", state.session.token);
    // Entries carry `agent_id`, as `presence` does; `id` is what the rest of this page uses.
    state.agents = (Array.isArray(body?.agents) ? body.agents : []).map((a) => ({
      ...a,
      id: a.id ?? a.agent_id,
    }));
    for (const agent of state.agents) names.set(`agent:${agent.id}`, agent.name);
  } catch {
    // Names fall back to ids; transfer to the queue still works.
  }
}

function openSocket(username) {
  const socket = openSession("/agent", username, state.session, ui.status, (fresh) => {
    state.session = fresh;
  });
  state.socket = socket;
  typingSignal = new TypingSignal(socket);
  socket.on("connect", onConnect);
  socket.on("disconnect", () => {
    ui.presenceToggle.disabled = true;
    typingIndicator.hide();
    // Offers lapse when the last connection drops: none of these can be accepted now.
    for (const id of [...state.offers.keys()]) removeOffer(id);
  });
  socket.on("presence", onPresence);
  socket.on("offer", onOffer);
  socket.on("offer.withdrawn", onOfferWithdrawn);
  socket.on("assigned", onAssigned);
  socket.on("unassigned", onUnassigned);
  socket.on("event", onEvent);
  socket.on("call.incoming", onCallIncoming);
  socket.on("call.left", onCallLeft);
  socket.on("call.ended", onCallEnded);
  socket.on("call.video_available", onVideoAvailable);
  socket.on("call.muted", onCallMuted);
  socket.on("transcript.partial", onTranscriptPartial);
  socket.on("typing", (payload) => {
    if (!payload || payload.actor === state.self) return;
    if (payload.conversation_id !== state.selected) return;
    typingIndicator.update(payload);
  });
}

async function onConnect() {
  ui.presenceToggle.disabled = false;
  if (state.connectedBefore) {
    // Catch up on every conversation still ours: only what we have not seen yet comes.
    for (const conv of state.conversations.values()) if (!conv.ended) resume(conv);
  }
  state.connectedBefore = true;
}

async function resume(conv) {
  if (conv.resuming) return;
  conv.resuming = true;
  try {
    await command(state.socket, "resume", { conversation_id: conv.id, after_seq: conv.log.lastSeq });
  } catch (error) {
    if (error.code === "forbidden" || error.code === "not_found") markEnded(conv, "transfer");
    else if (conv.id === state.selected) showError(ui.error, `Could not catch up. ${describeError(error)}`);
  } finally {
    conv.resuming = false;
  }
}

// --- presence --------------------------------------------------------------------------------

function onPresence(payload) {
  if (!payload) return;
  if (payload.agent_id && state.session && payload.agent_id !== state.session.id) return;
  state.presence = { ...state.presence, ...payload };
  renderPresence();
  // Conversations we carry but do not show (a reload, another tab's accept): follow them.
  for (const id of payload.conversations || []) {
    if (!state.conversations.has(id)) {
      const conv = ensureConversation(id);
      resume(conv);
    }
  }
}

function renderPresence() {
  const { status, load, capacity } = state.presence;
  ui.presenceStatus.dataset.status = status;
  ui.presenceStatus.textContent = PRESENCE_LABELS[status] || humanize(status);
  ui.presenceLoad.textContent = capacity ? `${load ?? 0}/${capacity} chats` : "";
  const ready = status === "ready" || status === "busy";
  ui.presenceToggle.textContent = ready ? "Set not ready" : "Go ready";
  ui.presenceToggle.setAttribute("aria-pressed", String(ready));
  ui.presenceToggle.classList.toggle("primary", !ready);
  const idle = {
    ready: "No offers right now. New chats appear here.",
    busy: "You are at capacity: new chats wait until one of yours ends.",
    wrap_up: "Wrap-up: offers resume in a moment (or press Go ready).",
  }[status];
  if (idle) ui.offersEmpty.textContent = idle;
  else fill(ui.offersEmpty, "No offers. Set yourself ", h("strong", { text: "Ready" }), " to receive chats.");
}

async function togglePresence() {
  const status = state.presence.status;
  const want = status === "ready" || status === "busy" ? "not_ready" : "ready";
  ui.presenceToggle.disabled = true;
  try {
    const ack = await command(state.socket, "presence.set", { status: want });
    state.presence = { ...state.presence, status: ack.status, load: ack.load, capacity: ack.capacity };
    renderPresence();
  } catch (error) {
    toast(`Could not change your status. ${describeError(error)}`, "error");
  } finally {
    ui.presenceToggle.disabled = !state.socket?.connected;
  }
}

// --- offers ---------------------------------------------------------------------------------

function onOffer(offer) {
  if (!offer || !offer.offer_id || state.offers.has(offer.offer_id)) return;
  const customerName = offer.customer?.name || names.of(`customer:${offer.customer?.id}`);
  if (offer.customer?.id) names.set(`customer:${offer.customer.id}`, customerName);
  const context = offer.context || {};
  const call = context.call && context.call.call_id ? context.call : null;
  const seconds = Number(offer.timeout_seconds) || 20;
  // Count down from what the server gave us, not from its clock: clocks disagree.
  const deadline = Date.now() + seconds * 1000;
  const countdown = h("span", { class: "countdown", text: `${Math.ceil(seconds)} s` });
  const bar = h("span", { class: "bar-fill" });
  const entry = { offer, key: newKey(), deadline, seconds, el: null, timer: null };

  const accept = h("button", {
    type: "button",
    class: "button primary small accept",
    text: "Accept",
    onclick: () => acceptOffer(entry),
  });
  const decline = h("button", {
    type: "button",
    class: "button small decline",
    text: "Decline",
    onclick: () => declineOffer(entry),
  });
  entry.el = h(
    "li",
    {
      class: "offer",
      dataset: { offerId: offer.offer_id, conversationId: offer.conversation_id },
      "aria-label": `${call ? (call.media === "video" ? "Video call" : "Call") : "Chat"} offer from ${customerName}`,
    },
    h(
      "div",
      { class: "offer-head" },
      h("span", { class: "avatar avatar-customer small", "aria-hidden": "true", text: customerName.charAt(0) }),
      h("strong", { class: "offer-customer", text: customerName }),
      countdown,
    ),
    call ? h("span", { class: "tag tag-call", text: call.media === "video" ? "Video call" : "Call" }) : null,
    context.intent ? h("span", { class: "tag", text: humanize(context.intent) }) : null,
    context.summary ? h("p", { class: "offer-summary", text: context.summary }) : null,
    h("span", { class: "bar", "aria-hidden": "true" }, bar),
    h("div", { class: "offer-actions" }, accept, decline),
  );
  entry.timer = setInterval(() => tickOffer(entry, countdown, bar), 250);
  tickOffer(entry, countdown, bar);
  state.offers.set(offer.offer_id, entry);
  ui.offers.prepend(entry.el);
  renderOfferCount();
  if (call) {
    state.ringing.set(`offer:${offer.offer_id}`, {
      key: `offer:${offer.offer_id}`,
      callId: call.call_id,
      offerId: offer.offer_id,
      conversationId: offer.conversation_id,
      customer: offer.customer,
      media: call.media,
      context,
      dismissed: false,
    });
    renderIncoming();
  }
}

function tickOffer(entry, countdown, bar) {
  const left = Math.max(0, entry.deadline - Date.now());
  countdown.textContent = `${Math.ceil(left / 1000)} s`;
  bar.style.width = `${(100 * left) / (entry.seconds * 1000)}%`;
  entry.el?.classList.toggle("urgent", left < 5000);
  if (left <= 0) {
    entry.el?.classList.add("expired");
    entry.el?.querySelectorAll("button").forEach((b) => {
      b.disabled = true;
    });
    // The server withdraws it; if that message got lost, tidy up anyway.
    if (Date.now() - entry.deadline > 5000) removeOffer(entry.offer.offer_id);
  }
}

function removeOffer(offerId) {
  const entry = state.offers.get(offerId);
  if (!entry) return;
  clearInterval(entry.timer);
  entry.el.remove();
  state.offers.delete(offerId);
  renderOfferCount();
  if (state.ringing.delete(`offer:${offerId}`)) renderIncoming();
}

function renderOfferCount() {
  const n = state.offers.size;
  ui.offerCount.textContent = String(n);
  ui.offerCount.hidden = n === 0;
  ui.offersEmpty.hidden = n > 0;
  document.title = n ? `(${n}) New chat · Tandem agent` : "Agent workspace · Tandem";
}

function onOfferWithdrawn(payload) {
  if (!payload || !state.offers.has(payload.offer_id)) return;
  const entry = state.offers.get(payload.offer_id);
  removeOffer(payload.offer_id);
  const who = entry.offer.customer?.name || "the customer";
  const why = {
    timeout: "it was not answered in time; you are now Not ready",
    taken: "another agent took it",
    closed: "the customer left",
    agent_offline: "you went offline",
  }[payload.reason] || humanize(payload.reason || "withdrawn");
  toast(`Offer for ${who} withdrawn: ${why}.`, payload.reason === "timeout" ? "warning" : "info");
}

async function acceptOffer(entry) {
  const buttons = entry.el.querySelectorAll("button");
  buttons.forEach((b) => {
    b.disabled = true;
  });
  entry.el.classList.add("busy");
  state.accepted.add(entry.offer.conversation_id);
  // Accepting an offer that is a call answers the call too, once it rings (call.incoming).
  const isCall = Boolean(entry.offer.context?.call);
  if (isCall) state.autoAnswer.add(entry.offer.conversation_id);
  try {
    const ack = await command(state.socket, "offer.accept", { key: entry.key, offer_id: entry.offer.offer_id });
    removeOffer(entry.offer.offer_id);
    const conv = ensureConversation(ack.conversation_id || entry.offer.conversation_id, {
      customer: entry.offer.customer,
      context: entry.offer.context,
    });
    conv.ended = false;
    select(conv.id);
    scheduleFollowCheck(conv);
  } catch (error) {
    state.accepted.delete(entry.offer.conversation_id);
    if (isCall) state.autoAnswer.delete(entry.offer.conversation_id);
    if (error.code === "not_found" || error.code === "conversation_closed" || error.code === "invalid_state") {
      removeOffer(entry.offer.offer_id);
      toast(`Could not accept: ${describeError(error)}`, "warning");
    } else {
      entry.el.classList.remove("busy");
      buttons.forEach((b) => {
        b.disabled = false;
      });
      toast(`Could not accept: ${describeError(error)}`, "error");
    }
  }
}

async function declineOffer(entry) {
  entry.el.querySelectorAll("button").forEach((b) => {
    b.disabled = true;
  });
  try {
    await command(state.socket, "offer.decline", { offer_id: entry.offer.offer_id });
  } catch (error) {
    if (error.code !== "not_found") toast(`Could not decline: ${describeError(error)}`, "error");
  }
  removeOffer(entry.offer.offer_id);
}

// --- conversations ------------------------------------------------------------------------

function ensureConversation(id, { customer, context } = {}) {
  let conv = state.conversations.get(id);
  if (!conv) {
    const logEl = h("div", { class: "log", dataset: { conversationId: id } });
    conv = {
      id,
      customer: null,
      context: null,
      ended: false,
      endReason: null,
      unread: 0,
      preview: "",
      lastAt: null,
      draft: "",
      logEl,
      item: null,
      resuming: false,
      logCall: null, // the call the log says is open: {call_id, media}
    };
    conv.log = new ConversationLog({
      conversationId: id,
      container: logEl,
      self: state.self,
      perspective: "agent",
      names,
      onGap: () => resume(conv),
    });
    state.conversations.set(id, conv);
    conv.item = h("li", {
      class: "conversation",
      dataset: { conversationId: id },
      tabindex: "0",
      role: "button",
      onclick: () => select(id),
      onkeydown: (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          select(id);
        }
      },
    });
    ui.conversations.prepend(conv.item);
  }
  if (customer && customer.id) {
    conv.customer = { id: customer.id, name: customer.name || names.of(`customer:${customer.id}`) };
    names.set(`customer:${customer.id}`, conv.customer.name);
  }
  if (context && Object.keys(context).length) conv.context = mergeContext(conv.context, context);
  renderConversationItem(conv);
  ui.conversationsEmpty.hidden = state.conversations.size > 0;
  if (state.selected === id) renderHeader(conv);
  return conv;
}

/** After an accept or a transfer to us, the server sends the log; if it does not, ask. */
function scheduleFollowCheck(conv) {
  setTimeout(() => {
    if (!conv.ended && conv.log.lastSeq === 0) resume(conv);
  }, 1200);
}

function customerName(conv) {
  if (conv.customer?.name) return conv.customer.name;
  if (conv.log.customerId) return names.of(`customer:${conv.log.customerId}`);
  return "Customer";
}

function renderConversationItem(conv) {
  const name = customerName(conv);
  conv.item.classList.toggle("selected", state.selected === conv.id);
  conv.item.classList.toggle("ended", conv.ended);
  conv.item.dataset.state = conv.ended ? "ended" : "active";
  if (state.selected === conv.id) conv.item.setAttribute("aria-current", "true");
  else conv.item.removeAttribute("aria-current");
  const status = conv.ended
    ? ENDED_LABELS[conv.endReason] || "Ended"
    : conv.logCall
      ? "Call in progress"
      : conv.context?.intent
      ? humanize(conv.context.intent)
      : "Active";
  fill(
    conv.item,
    h("span", { class: "avatar avatar-customer small", "aria-hidden": "true", text: name.charAt(0) }),
    h(
      "span",
      { class: "conversation-text" },
      h(
        "span",
        { class: "conversation-line" },
        h("strong", { text: name }),
        h("span", { class: "muted small", text: conv.lastAt ? formatTime(conv.lastAt) : "" }),
      ),
      h("span", { class: "conversation-preview", text: conv.preview || status }),
      conv.preview ? h("span", { class: "conversation-status small", text: status }) : null,
    ),
    conv.unread ? h("span", { class: "count", text: String(conv.unread), "aria-label": `${conv.unread} unread` }) : null,
  );
}

function select(id) {
  const conv = state.conversations.get(id);
  if (!conv) return;
  const previous = state.selected && state.conversations.get(state.selected);
  if (previous && previous !== conv) {
    previous.draft = ui.composer.value;
    typingSignal?.stop();
  }
  state.selected = id;
  conv.unread = 0;
  for (const other of state.conversations.values()) renderConversationItem(other);
  ui.noSelection.hidden = true;
  ui.view.hidden = false;
  ui.messages.replaceChildren(conv.logEl);
  ui.messages.dataset.conversationId = id;
  ui.composer.value = conv.draft || "";
  ui.error.hidden = true;
  ui.transferPanel.hidden = true;
  ui.transfer.setAttribute("aria-expanded", "false");
  typingIndicator.hide();
  renderHeader(conv);
  renderTicketPanel();
  const ticket = ticketOf(conv);
  if (!ticket.draft && !ticket.filed && !ticket.loading) loadDraft(conv);
  conv.log.scrollToEnd();
  scheduleRead(conv);
  if (!conv.ended) ui.composer.focus();
}

function renderHeader(conv) {
  renderTranscriptLive(conv);
  const name = customerName(conv);
  ui.convCustomer.textContent = name;
  ui.convAvatar.textContent = name.charAt(0);
  ui.convState.textContent = conv.ended
    ? ENDED_LABELS[conv.endReason] || "Ended"
    : conv.log.handler === state.self
      ? "You are serving this customer"
      : conv.log.handler
        ? `Handler: ${humanize(conv.log.handler)}`
        : "Loading…";
  const disabled = conv.ended;
  for (const button of [ui.handback, ui.transfer, ui.close, ui.send]) button.disabled = disabled;
  renderCallJoin(conv);
  ui.composer.disabled = disabled;
  ui.composer.placeholder = disabled ? "This conversation is no longer yours" : "Write a reply…";
  renderContext(conv);
}

function renderContext(conv) {
  const context = mergeContext(conv.log.context, conv.context);
  if (!context) {
    ui.context.hidden = true;
    ui.context.replaceChildren();
    return;
  }
  ui.context.hidden = false;
  const transcript = Array.isArray(context.transcript) ? context.transcript : [];
  const facts = h(
    "dl",
    { class: "facts" },
    context.intent ? [h("dt", { text: "Intent" }), h("dd", {}, h("span", { class: "tag", text: humanize(context.intent) }))] : null,
    context.queue ? [h("dt", { text: "Queue" }), h("dd", { text: humanize(context.queue) })] : null,
    context.reason ? [h("dt", { text: "Why" }), h("dd", { text: humanize(context.reason) })] : null,
  );
  fill(
    ui.context,
    h("div", { class: "context-head" }, h("h3", { text: "Handoff context" }), facts),
    context.summary ? h("p", { class: "context-summary", text: context.summary }) : null,
    context.note ? h("p", { class: "context-note" }, h("strong", { text: "Note: " }), context.note) : null,
    transcript.length
      ? h(
          "details",
          { class: "transcript" },
          h("summary", {
            text: `Conversation before the handoff (${transcript.length} ${transcript.length === 1 ? "message" : "messages"})`,
          }),
          h(
            "ol",
            {},
            transcript.map((line) =>
              h(
                "li",
                { dataset: { actorKind: line.actor?.startsWith("customer:") ? "customer" : "bot" } },
                h("span", { class: "who", text: `${names.of(line.actor)}: ` }),
                h("span", { text: line.text }),
              ),
            ),
          ),
        )
      : null,
  );
}

function onAssigned(payload) {
  if (!payload || !payload.conversation_id) return;
  const conv = ensureConversation(payload.conversation_id, {
    customer: payload.customer,
    context: payload.context,
  });
  const wasEnded = conv.ended;
  conv.ended = false;
  conv.endReason = null;
  renderConversationItem(conv);
  // The ticket is drafted as soon as the conversation is ours: ready when the agent looks.
  const ticket = ticketOf(conv);
  if (!ticket.draft && !ticket.filed && !ticket.loading) loadDraft(conv);
  if (!state.selected || wasEnded) select(conv.id);
  else if (state.selected === conv.id) renderHeader(conv);
  if (state.accepted.delete(conv.id)) {
    // Our own accept: its ack follows the conversation from seq 1.
    scheduleFollowCheck(conv);
  } else {
    // Transferred to us: nothing follows it for us yet, so catch up now.
    resume(conv);
    toast(`${customerName(conv)} was transferred to you.`);
  }
}

function onUnassigned(payload) {
  if (!payload || !payload.conversation_id) return;
  const conv = state.conversations.get(payload.conversation_id);
  if (conv) markEnded(conv, payload.reason);
  dropRings((ring) => ring.conversationId === payload.conversation_id);
  state.autoAnswer.delete(payload.conversation_id);
}

function markEnded(conv, reason) {
  const wasEnded = conv.ended;
  conv.ended = true;
  conv.endReason = reason || conv.endReason || "close";
  renderConversationItem(conv);
  if (state.selected === conv.id) {
    typingSignal?.stop();
    typingIndicator.hide();
    ui.transferPanel.hidden = true;
    renderHeader(conv);
  }
  // Wrap-up: the ticket stays, redrafted from the whole conversation (edits are kept).
  const ticket = ticketOf(conv);
  if (!wasEnded && ticket.draft && !ticket.filed && !ticket.loading) loadDraft(conv, { refresh: true });
}

function onEvent(event) {
  if (!event || !event.conversation_id) return;
  const conv = state.conversations.get(event.conversation_id) || ensureConversation(event.conversation_id);
  const result = conv.log.add(event);
  if (!result.accepted) return;
  if (event.type === "message.sent") {
    conv.preview = `${event.actor === state.self ? "You: " : ""}${String(event.data?.text || "")}`.slice(0, 90);
    conv.lastAt = event.at;
    if (result.fromOthers) {
      if (state.selected === conv.id) {
        typingIndicator.hide();
        scheduleRead(conv);
      } else {
        conv.unread += 1;
      }
    }
  }
  if (event.type === "conversation.closed") markEnded(conv, "close");
  if (event.type === "ticket.filed") markTicketFiled(conv, event.data?.ticket, event);
  if (event.type === "handler.changed" && event.data?.from === state.self && event.data?.to !== state.self) {
    markEnded(conv, event.data.reason);
  }
  if (event.type === "handler.changed" && event.data?.to === state.self && conv.ended) {
    conv.ended = false;
    conv.endReason = null;
  }
  onCallLogEvent(conv, event);
  if (event.type === "transcript.segment" && conv.livePartial?.speaker === event.data?.speaker) {
    conv.livePartial = null;
    if (state.selected === conv.id) renderTranscriptLive(conv);
  }
  if (!conv.customer && conv.log.customerId) {
    conv.customer = { id: conv.log.customerId, name: names.of(`customer:${conv.log.customerId}`) };
  }
  renderConversationItem(conv);
  if (state.selected === conv.id) renderHeader(conv);
}

// --- ticket ---------------------------------------------------------------------------------
//
// Each conversation the agent serves gets a ticket: drafted by the server (`ticket.draft`)
// from what the assistant understood, edited here, filed with `ticket.file`. The panel
// shows the selected conversation's ticket and stays after the conversation closed, until
// the agent files it (it then shows read-only) or dismisses it.

/** Categories and their sub-categories, embedded in agent.html from categories.toml. */
const TICKET_CATEGORIES = (() => {
  try {
    const parsed = JSON.parse($("#ticket-categories")?.textContent || "{}");
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
})();

const FILLED_BY_LABELS = {
  offline: "Pre-filled by the assistant",
  llm: "Improved by the bank's language model",
};

// Where an automatically filled field came from (the draft's `sources`): what to check.
const SOURCE_LABELS = {
  intent: "from the understood intent",
  slots: "from the customer's details",
  message: "from the customer's message",
  handoff: "from the handoff summary",
  task: "from a self-service task",
  llm: "by the language model",
  agent: "edited by an agent",
};

const TICKET_FIELDS = [
  { name: "category", label: "Category", control: "select" },
  { name: "sub_category", label: "Sub-category", control: "select" },
  { name: "summary", label: "Summary", control: "textarea", rows: 4, max: 600 },
  { name: "customer_request", label: "Customer request", control: "textarea", rows: 2, max: 300 },
  {
    name: "resolution",
    label: "Resolution",
    control: "textarea",
    rows: 2,
    max: 600,
    placeholder: "What was done or proposed",
  },
  {
    name: "amounts",
    label: "Amounts",
    control: "input",
    hint: "Amount and currency, several separated by “;”",
    placeholder: "e.g. 45.20 EUR",
  },
  {
    name: "dates",
    label: "Dates",
    control: "input",
    hint: "YYYY-MM-DD or a period start/end, separated by “;”",
    placeholder: "e.g. 2026-11-24",
  },
  {
    name: "card_or_account",
    label: "Card or account",
    control: "input",
    max: 40,
    hint: "Last 4 digits only",
    placeholder: "e.g. card ending 1234",
  },
];

let ticketSerial = 0;

function ticketOf(conv) {
  if (!conv.ticket) {
    ticketSerial += 1;
    const ticket = {
      prefix: `ticket-${ticketSerial}-`,
      draft: null, // the server's latest draft
      loading: false,
      filed: null, // the ticket as filed, once it is
      dismissed: false,
      dirty: new Set(), // fields the agent edited: a refreshed draft leaves them alone
      attempt: null, // {key, body} of the last submission that did not succeed
      controls: {},
      errors: {},
      hints: {},
    };
    ticket.status = h("p", { class: "ticket-status muted small", role: "status", "aria-live": "polite" });
    ticket.content = h("div", { class: "ticket-content" });
    ticket.el = h(
      "div",
      { class: "ticket-inner", dataset: { conversationId: conv.id } },
      ticket.status,
      ticket.content,
    );
    conv.ticket = ticket;
  }
  return conv.ticket;
}

function setTicketStatus(ticket, text, kind = "") {
  ticket.status.textContent = text || "";
  ticket.status.dataset.kind = kind;
}

/** Show the selected conversation's ticket in the panel (or hide the panel). */
function renderTicketPanel() {
  const conv = selectedConversation();
  if (!conv) {
    ui.ticket.hidden = true;
    ui.ticketToggle.hidden = true;
    return;
  }
  const ticket = ticketOf(conv);
  if (ui.ticketBody.firstChild !== ticket.el) ui.ticketBody.replaceChildren(ticket.el);
  ui.ticket.hidden = ticket.dismissed;
  ui.ticketToggle.hidden = false;
  ui.ticketToggle.setAttribute("aria-expanded", String(!ticket.dismissed));
  ui.ticketToggle.textContent = ticket.filed ? "Ticket (filed)" : "Ticket";
  ui.ticketHide.textContent = ticket.filed ? "Hide" : "Dismiss";
  ui.ticketHide.title = ticket.filed
    ? "Hide the filed ticket; the Ticket button brings it back"
    : "Close this ticket without filing it; the Ticket button brings it back";
}

function setTicketDismissed(conv, dismissed) {
  ticketOf(conv).dismissed = dismissed;
  if (state.selected === conv.id) renderTicketPanel();
}

/** Ask the server for the draft. `refresh`: keep what the agent edited. */
async function loadDraft(conv, { refresh = false } = {}) {
  const ticket = ticketOf(conv);
  if (ticket.loading || ticket.filed || !state.socket) return;
  ticket.loading = true;
  if (ticket.refreshButton) ticket.refreshButton.disabled = true;
  setTicketStatus(ticket, ticket.draft ? "Refreshing the draft…" : "Drafting the ticket…");
  try {
    // A bank's language model may take a few seconds (the server bounds it).
    const ack = await command(
      state.socket,
      "ticket.draft",
      { conversation_id: conv.id },
      { timeoutMs: 30000, attempts: 2 },
    );
    if (ticket.filed) return;
    const first = !ticket.draft;
    ticket.draft = ack.ticket || {};
    if (first || !ticket.form) buildTicketForm(conv);
    fillTicketForm(ticket, ticket.draft, { keepEdits: refresh || !first });
    setTicketStatus(
      ticket,
      first ? "" : ticket.dirty.size ? "Draft refreshed; your edits were kept." : "Draft refreshed.",
    );
  } catch (error) {
    if (ticket.filed) return;
    setTicketStatus(ticket, `Could not draft the ticket. ${describeError(error)}`, "error");
    if (!ticket.form) {
      fill(
        ticket.content,
        h("button", {
          type: "button",
          class: "button small",
          text: "Try again",
          onclick: () => loadDraft(conv),
        }),
      );
    }
  } finally {
    ticket.loading = false;
    if (ticket.refreshButton) ticket.refreshButton.disabled = false;
  }
}

function optionsFor(select, values, selected) {
  const list = [...values];
  if (selected && !list.includes(selected)) list.push(selected); // not in our copy: keep it
  select.replaceChildren(...list.map((value) => h("option", { value, text: value })));
  if (selected) select.value = selected;
}

function buildTicketForm(conv) {
  const ticket = ticketOf(conv);
  const id = (name) => `${ticket.prefix}${name}`;
  const fields = TICKET_FIELDS.map((spec) => {
    const describedBy = [];
    const hint = spec.hint
      ? h("span", { id: id(`${spec.name}-hint`), class: "field-hint", text: spec.hint })
      : null;
    if (hint) describedBy.push(hint.id);
    const source = h("span", { id: id(`${spec.name}-source`), class: "field-source" });
    describedBy.push(source.id);
    const error = h("p", { id: id(`${spec.name}-error`), class: "field-error", hidden: true });
    describedBy.push(error.id);
    const attrs = {
      id: id(spec.name),
      name: spec.name,
      "aria-describedby": describedBy.join(" "),
      maxlength: spec.max,
      placeholder: spec.placeholder,
      rows: spec.rows,
      type: spec.control === "input" ? "text" : undefined,
      autocomplete: spec.control === "select" ? undefined : "off",
    };
    const control = h(spec.control, attrs);
    control.addEventListener(spec.control === "select" ? "change" : "input", () => {
      ticket.dirty.add(spec.name);
      source.textContent = "edited";
      clearFieldError(ticket, spec.name);
    });
    ticket.controls[spec.name] = control;
    ticket.errors[spec.name] = error;
    ticket.hints[spec.name] = source;
    return h(
      "div",
      { class: `field field-${spec.name}` },
      h("div", { class: "field-label" }, h("label", { for: control.id, text: spec.label }), source),
      control,
      hint,
      error,
    );
  });

  const { category, sub_category: subCategory } = ticket.controls;
  category.addEventListener("change", () => {
    // The sub-categories follow the category; one of the same name stays chosen ("Fees").
    const previous = subCategory.value;
    const subs = TICKET_CATEGORIES[category.value] || [];
    optionsFor(subCategory, subs, subs.includes(previous) ? previous : subs[0]);
    ticket.dirty.add("sub_category");
    ticket.hints.sub_category.textContent = "edited";
    clearFieldError(ticket, "sub_category");
  });

  ticket.badge = h("span", { class: "ticket-badge" });
  ticket.intent = h("span", { class: "muted small" });
  ticket.formError = h("div", { class: "ticket-error", role: "alert", hidden: true });
  ticket.fileButton = h("button", { type: "submit", class: "button primary", text: "File ticket" });
  ticket.refreshButton = h("button", {
    type: "button",
    class: "button",
    text: "Refresh draft",
    title: "Draft again from the conversation so far; your edits are kept",
    onclick: () => loadDraft(conv, { refresh: true }),
  });
  ticket.fieldset = h(
    "fieldset",
    { class: "ticket-fields" },
    h("legend", { class: "visually-hidden", text: "Ticket fields" }),
    fields,
  );
  ticket.form = h(
    "form",
    {
      class: "ticket-form",
      novalidate: true,
      "aria-label": "Ticket",
      onsubmit: (event) => {
        event.preventDefault();
        fileTicket(conv);
      },
    },
    h("div", { class: "ticket-meta" }, ticket.badge, ticket.intent),
    ticket.fieldset,
    ticket.formError,
    h("div", { class: "ticket-actions" }, ticket.fileButton, ticket.refreshButton),
  );
  fill(ticket.content, ticket.form);
}

function formatAmounts(amounts) {
  return (Array.isArray(amounts) ? amounts : [])
    .map((a) => [a?.value ?? "", a?.currency ?? ""].filter(Boolean).join(" "))
    .join("; ");
}

/** "45.20 EUR; EUR 10; 3,50 €; 12" -> [{value, currency}]; what cannot be read is passed
 * on as typed, for the server to name the field. */
function parseAmounts(text) {
  const symbols = { "€": "EUR", "£": "GBP" };
  return splitList(text, /[;\n]+/).map((item) => {
    let value = item;
    let currency = null;
    let match = item.match(/^(.*[^A-Za-z\s])\s*([A-Za-z]{3})$/);
    if (match) [, value, currency] = match;
    else if ((match = item.match(/^([A-Za-z]{3})\s*([^A-Za-z].*)$/))) [, currency, value] = match;
    value = value.trim();
    match = value.match(/^([€£])\s*(.*)$/) || value.match(/^(.*?)\s*([€£])$/);
    if (match) {
      const [symbol, rest] = symbols[match[1]] ? [match[1], match[2]] : [match[2], match[1]];
      currency = currency || symbols[symbol];
      value = rest.trim();
    }
    if (/^[0-9]+,[0-9]{1,4}$/.test(value)) value = value.replace(",", ".");
    return { value, currency: currency ? currency.toUpperCase() : null };
  });
}

function splitList(text, separator) {
  return String(text || "")
    .split(separator)
    .map((part) => part.trim())
    .filter(Boolean);
}

const TICKET_FORMAT = {
  amounts: formatAmounts,
  dates: (dates) => (Array.isArray(dates) ? dates.join("; ") : ""),
  card_or_account: (value) => value ?? "",
};

function fillTicketForm(ticket, draft, { keepEdits }) {
  const { category, sub_category: subCategory } = ticket.controls;
  if (!keepEdits) ticket.dirty.clear();
  const fresh = (name) => !keepEdits || !ticket.dirty.has(name);
  // The category and its sub-category go together: an edit of either keeps both.
  if (fresh("category") && fresh("sub_category")) {
    const names = Object.keys(TICKET_CATEGORIES);
    optionsFor(category, names.length ? names : [draft.category], draft.category);
    optionsFor(subCategory, TICKET_CATEGORIES[category.value] || [], draft.sub_category);
  }
  for (const spec of TICKET_FIELDS) {
    if (spec.control === "select" || !fresh(spec.name)) continue;
    const format = TICKET_FORMAT[spec.name];
    ticket.controls[spec.name].value = format ? format(draft[spec.name]) : String(draft[spec.name] ?? "");
  }
  const sources = draft.sources || {};
  for (const spec of TICKET_FIELDS) {
    const edited = keepEdits && ticket.dirty.has(spec.name);
    const from = sources[spec.name];
    ticket.hints[spec.name].textContent = edited ? "edited" : SOURCE_LABELS[from] || (from ? humanize(from) : "");
  }
  ticket.badge.textContent = FILLED_BY_LABELS[draft.filled_by] || FILLED_BY_LABELS.offline;
  ticket.badge.dataset.filledBy = draft.filled_by || "offline";
  ticket.intent.textContent = draft.intent ? `Intent: ${humanize(draft.intent)}` : "";
}

/** The ticket as the form says, with the draft's provenance; fields the agent changed are
 * marked as theirs in `sources`. */
function ticketFromForm(ticket) {
  const c = ticket.controls;
  const draft = ticket.draft || {};
  const card = c.card_or_account.value.trim();
  const edited = {
    category: c.category.value,
    sub_category: c.sub_category.value,
    summary: c.summary.value.trim(),
    customer_request: c.customer_request.value.trim(),
    resolution: c.resolution.value.trim(),
    amounts: parseAmounts(c.amounts.value),
    dates: splitList(c.dates.value, /[;,\s]+/),
    card_or_account: card || null,
  };
  const before = {
    ...draft,
    resolution: draft.resolution ?? "",
    amounts: draft.amounts ?? [],
    dates: draft.dates ?? [],
    card_or_account: draft.card_or_account ?? null,
  };
  const sources = { ...(draft.sources || {}) };
  for (const [name, value] of Object.entries(edited)) {
    if (JSON.stringify(value) !== JSON.stringify(before[name])) sources[name] = "agent";
  }
  return {
    ...edited,
    intent: draft.intent ?? null,
    filled_by: draft.filled_by === "llm" ? "llm" : "offline",
    sources,
  };
}

function clearFieldError(ticket, name) {
  const error = ticket.errors[name];
  if (!error || error.hidden) return;
  error.hidden = true;
  error.textContent = "";
  ticket.controls[name].removeAttribute("aria-invalid");
}

function clearTicketErrors(ticket) {
  for (const name of Object.keys(ticket.errors)) clearFieldError(ticket, name);
  ticket.formError.hidden = true;
  ticket.formError.replaceChildren();
}

/** Put each problem of a refused ticket next to the field it names
 * ("ticket.amounts[0].value: … ; ticket.summary: must not be empty"). */
function showTicketErrors(ticket, error) {
  const unplaced = [];
  let first = null;
  const problems = error.code === "invalid_payload" ? String(error.message || "").split(/;\s+/) : [];
  for (const problem of problems) {
    const named = problem.match(/^ticket\.([a-z_]+)([^\s:]*):\s*(.*)$/);
    const missing = problem.match(/^ticket: missing (.+)$/);
    const fields = named ? [named[1]] : missing ? missing[1].split(/,\s*/) : [];
    const placed = fields.filter((name) => ticket.errors[name]);
    if (!placed.length) {
      unplaced.push(problem);
      continue;
    }
    for (const name of placed) {
      const text = named
        ? `${humanize(name)}${named[2]}: ${named[3]}`
        : `${humanize(name)}: must not be missing`;
      const box = ticket.errors[name];
      box.textContent = box.hidden ? text : `${box.textContent} ${text}`;
      box.hidden = false;
      ticket.controls[name].setAttribute("aria-invalid", "true");
      first = first || ticket.controls[name];
    }
  }
  const which = problems.length === 1 ? "a field needs" : "some fields need";
  const rest = unplaced.length ? ` ${unplaced.join("; ")}` : "";
  const again = error.retryable ? " Press File ticket to try again." : "";
  const summary = first ? `Not filed: ${which} fixing.${rest}` : `Not filed. ${describeError(error)}${again}`;
  fill(ticket.formError, h("span", { text: summary }));
  ticket.formError.hidden = false;
  first?.focus();
}

async function fileTicket(conv) {
  const ticket = ticketOf(conv);
  if (!ticket.form || ticket.filed || ticket.filing) return;
  const body = ticketFromForm(ticket);
  const json = JSON.stringify(body);
  // Pressing again after a failure sends the same submission with the same key: the
  // server files it at most once. A changed ticket is a new submission, with a new key.
  const key = ticket.attempt && ticket.attempt.body === json ? ticket.attempt.key : newKey();
  ticket.attempt = { key, body: json };
  ticket.filing = true;
  clearTicketErrors(ticket);
  ticket.fieldset.disabled = true;
  ticket.fileButton.disabled = true;
  ticket.refreshButton.disabled = true;
  setTicketStatus(ticket, "Filing…");
  try {
    const ack = await command(
      state.socket,
      "ticket.file",
      { key, conversation_id: conv.id, ticket: body },
      {
        onState: (step, info) => {
          if (step === "waiting") setTicketStatus(ticket, "Waiting for the connection…");
          else if (step === "retrying") setTicketStatus(ticket, `Retrying (${describeError(info.error)})…`);
        },
      },
    );
    markTicketFiled(conv, body, { seq: ack.seq, actor: state.self });
  } catch (error) {
    if (ticket.filed) return; // filed meanwhile (its event came first): nothing to show
    // Enabled again first: the first field in error takes the focus.
    ticket.fieldset.disabled = false;
    ticket.fileButton.disabled = false;
    ticket.refreshButton.disabled = ticket.loading;
    setTicketStatus(ticket, "");
    showTicketErrors(ticket, error);
  } finally {
    ticket.filing = false;
  }
}

/** The conversation has its ticket (our ack, or `ticket.filed` in its log): read-only. */
function markTicketFiled(conv, filed, { seq, actor } = {}) {
  const ticket = ticketOf(conv);
  const first = !ticket.filed;
  ticket.filed = filed && typeof filed === "object" ? filed : ticket.filed || {};
  ticket.filedSeq = seq ?? ticket.filedSeq;
  ticket.attempt = null;
  ticket.dismissed = false;
  const hadFocus = ticket.el.contains(document.activeElement);
  const by = actor && actor !== state.self ? ` by ${names.of(actor)}` : "";
  setTicketStatus(ticket, `Ticket filed${by}`, "ok");
  const t = ticket.filed;
  const rows = [
    ["Category", [t.category, t.sub_category].filter(Boolean).join(" · ")],
    ["Summary", t.summary],
    ["Customer request", t.customer_request],
    ["Resolution", t.resolution],
    ["Amounts", formatAmounts(t.amounts)],
    ["Dates", Array.isArray(t.dates) ? t.dates.join("; ") : ""],
    ["Card or account", t.card_or_account],
  ].filter(([, value]) => value);
  fill(
    ticket.content,
    h(
      "dl",
      { class: "ticket-filed", "aria-label": "Filed ticket" },
      rows.flatMap(([label, value]) => [h("dt", { text: label }), h("dd", { text: value })]),
    ),
  );
  ticket.form = null;
  ticket.refreshButton = null;
  if (first && actor === state.self && state.selected !== conv.id) {
    toast(`Ticket filed for ${customerName(conv)}.`);
  }
  if (state.selected === conv.id) {
    renderTicketPanel();
    if (hadFocus) ui.ticketHide.focus();
  }
}

// --- read receipts -----------------------------------------------------------------------------

function scheduleRead(conv) {
  clearTimeout(conv.readTimer);
  conv.readTimer = setTimeout(() => sendRead(conv), 300);
}

async function sendRead(conv) {
  if (conv.ended || state.selected !== conv.id || document.visibilityState !== "visible") return;
  const upTo = conv.log.lastOtherMessageSeq;
  if (!upTo || upTo <= Math.max(conv.readSent || 0, conv.log.readBySelf || 0)) return;
  conv.readSent = upTo;
  try {
    await command(state.socket, "read", { key: newKey(), conversation_id: conv.id, up_to_seq: upTo });
  } catch {
    if (conv.readSent === upTo) conv.readSent = 0;
  }
}

// --- actions ---------------------------------------------------------------------------------

function selectedConversation() {
  return state.selected ? state.conversations.get(state.selected) : null;
}

async function sendText(raw) {
  const conv = selectedConversation();
  const text = String(raw || "").trim();
  if (!conv || conv.ended || !text) return;
  typingSignal?.stop();
  const key = newKey();
  const record = conv.log.addPending(key, text);
  await deliver(conv, record, { key, conversation_id: conv.id, text });
}

async function deliver(conv, record, payload) {
  const log = conv.log;
  try {
    const ack = await sendPending(state.socket, log, record, payload);
    // Our own message comes from the ack, not as an event: the list preview follows here.
    conv.preview = `You: ${record.text}`.slice(0, 90);
    conv.lastAt = ack.at || new Date().toISOString();
    renderConversationItem(conv);
  } catch (error) {
    log.setPendingState(record, `Not sent. ${describeError(error)}`, {
      failed: true,
      retry: error.retryable ? () => deliver(conv, record, payload) : undefined,
    });
    if (state.selected === conv.id) showError(ui.error, `Message not sent. ${describeError(error)}`);
  }
}

/** Run a conversation command from a button: disabled while it runs, errors shown. */
async function act(button, event, payload, { done } = {}) {
  const conv = selectedConversation();
  if (!conv || conv.ended) return;
  button.disabled = true;
  ui.error.hidden = true;
  try {
    await command(state.socket, event, { key: newKey(), conversation_id: conv.id, ...payload });
    done?.(conv);
  } catch (error) {
    showError(ui.error, `${button.textContent.replace("…", "")} failed. ${describeError(error)}`);
  } finally {
    if (state.selected === conv.id) renderHeader(conv);
  }
}

async function openTransfer() {
  const open = ui.transferPanel.hidden;
  ui.transferPanel.hidden = !open;
  ui.transfer.setAttribute("aria-expanded", String(open));
  if (!open) return;
  await loadAgents();
  const options = [h("option", { value: "queue:general", text: "Queue: general" })];
  for (const agent of state.agents) {
    if (agent.id === state.session.id) continue;
    const status = PRESENCE_LABELS[agent.status] || humanize(agent.status || "");
    options.push(
      h("option", {
        value: `agent:${agent.id}`,
        text: `${agent.name}${status ? ` (${status}${agent.capacity ? `, ${agent.load}/${agent.capacity}` : ""})` : ""}`,
        disabled: agent.status === "offline",
      }),
    );
  }
  ui.transferTarget.replaceChildren(...options);
  ui.transferTarget.focus();
}

// --- calls: incoming-call panel and softphone ---------------------------------------------------
//
// A customer's call rings the agent serving their conversation (`call.incoming`), or comes
// with an offer whose context has `call`. Accept opens the microphone (and the camera for a
// video call) and answers with this page's offer (`call.answer`): the server is the other
// end of the media, and the customer is switched to us once our audio reaches it.

const CALL_LIVE = new Set(["connecting", "talking", "held", "transferring"]);

const LEFT_TEXTS = {
  transferred: "The next agent took over the call.",
  transfer: "The conversation was transferred: you left the call.",
  handback: "Handed back to the assistant: you left the call.",
  agent_lost: "Your connection to the call was lost. The customer hears the queue audio meanwhile.",
  agent_failed: "Your audio never reached the server, so the customer could not hear you.",
  hangup: "You left the call.",
};

function callLive(call = state.call) {
  return Boolean(call && CALL_LIVE.has(call.phase));
}

function dropRings(predicate) {
  let changed = false;
  for (const [key, ring] of state.ringing) {
    if (predicate(ring)) {
      state.ringing.delete(key);
      changed = true;
    }
  }
  if (changed) renderIncoming();
  return changed;
}

function onCallIncoming(payload) {
  if (!payload || !payload.call_id || !payload.conversation_id) return;
  const conv = ensureConversation(payload.conversation_id, {
    customer: payload.customer,
    context: payload.context,
  });
  if (!conv.logCall) conv.logCall = { call_id: payload.call_id, media: payload.media };
  if (state.call && state.call.id === payload.call_id && callLive()) return; // on it already
  // The offer that announced this call (if any) is superseded by the ring itself.
  dropRings((ring) => ring.conversationId === payload.conversation_id);
  const ring = {
    key: payload.call_id,
    callId: payload.call_id,
    offerId: null,
    conversationId: payload.conversation_id,
    customer: payload.customer,
    media: payload.media,
    context: payload.context || {},
    dismissed: false,
  };
  if (state.autoAnswer.delete(payload.conversation_id) && !callLive()) {
    answerCall(ring);
    return;
  }
  state.ringing.set(ring.key, ring);
  renderIncoming();
  if (state.selected === conv.id) renderHeader(conv);
  if (document.visibilityState !== "visible") toast(`${customerName(conv)} is calling.`);
}

/** The newest ring the agent has not dismissed. */
function currentRing() {
  const rings = [...state.ringing.values()].filter((r) => !r.dismissed);
  return rings.length ? rings[rings.length - 1] : null;
}

function renderIncoming() {
  const ring = currentRing();
  ui.incoming.hidden = !ring;
  document.body.classList.toggle("ringing", Boolean(ring));
  if (!ring) return;
  const name = ring.customer?.name || names.of(`customer:${ring.customer?.id}`) || "A customer";
  const context = ring.context || {};
  ui.incoming.dataset.callId = ring.callId || "";
  ui.incoming.dataset.conversationId = ring.conversationId;
  ui.incoming.dataset.media = ring.media || "audio";
  ui.incomingTitle.textContent = ring.media === "video" ? "Incoming video call" : "Incoming call";
  ui.incomingCustomer.textContent = name;
  const transcript = Array.isArray(context.transcript) ? context.transcript : [];
  const lastWords = [...transcript].reverse().find((line) => line.actor?.startsWith("customer:"));
  fill(
    ui.incomingContext,
    h(
      "div",
      { class: "incoming-tags" },
      context.intent ? h("span", { class: "tag", text: humanize(context.intent) }) : null,
      context.queue ? h("span", { class: "tag tag-muted", text: `Queue: ${humanize(context.queue)}` }) : null,
      context.reason === "transfer" ? h("span", { class: "tag tag-muted", text: "Transferred" }) : null,
    ),
    context.summary ? h("p", { class: "incoming-summary", text: context.summary }) : null,
    !context.summary && lastWords ? h("p", { class: "incoming-summary", text: `“${lastWords.text}”` }) : null,
    context.note ? h("p", { class: "incoming-note" }, h("strong", { text: "Note: " }), context.note) : null,
    !context.intent && !context.summary && !context.note && !lastWords
      ? h("p", { class: "incoming-summary muted", text: "No handoff context yet." })
      : null,
  );
  const busy = callLive() && state.call.id !== ring.callId;
  ui.incomingBusy.hidden = !busy;
  ui.incomingAccept.disabled = busy;
  ui.incomingAccept.textContent = ring.offerId ? "Accept call" : "Accept";
}

function acceptRing() {
  const ring = currentRing();
  if (!ring) return;
  if (ring.offerId) {
    const entry = state.offers.get(ring.offerId);
    state.ringing.delete(ring.key);
    renderIncoming();
    if (entry) acceptOffer(entry);
    return;
  }
  answerCall(ring);
}

function declineRing() {
  // Declining only puts the ring away: the routing timeout handles the rest, and the
  // conversation header keeps an "Answer call" button while the call is up.
  const ring = currentRing();
  if (!ring) return;
  ring.dismissed = true;
  renderIncoming();
  const conv = state.conversations.get(ring.conversationId);
  if (conv && state.selected === conv.id) renderHeader(conv);
}

function renderCallJoin(conv) {
  const open = conv.logCall;
  const ring = [...state.ringing.values()].find((r) => r.conversationId === conv.id && !r.offerId);
  const mine = conv.log.handler === state.self;
  const onIt = state.call && open && state.call.id === open.call_id && callLive();
  const show = !conv.ended && !onIt && (Boolean(ring) || (mine && Boolean(open)));
  ui.callJoin.hidden = !show;
  if (show) {
    ui.callJoin.textContent = ring ? "Answer call" : "Join call";
    ui.callJoin.disabled = callLive();
    ui.callJoin.title = callLive() ? "Finish your current call first" : "";
  }
}

async function answerCall(ring) {
  if (callLive()) {
    if (state.call.id !== ring.callId) toast("Finish your current call first.", "warning");
    return;
  }
  dropRings((r) => r.callId === ring.callId || r.conversationId === ring.conversationId);
  const conv = ensureConversation(ring.conversationId, { customer: ring.customer, context: ring.context });
  const call = {
    id: ring.callId,
    conversationId: ring.conversationId,
    media: ring.media || "audio",
    customer: conv.customer || ring.customer || null,
    phase: "connecting",
    answeredAt: null,
    muted: false,
    customerMuted: false,
    held: false,
    recording: false,
    consent: false,
    busy: false,
    note: "",
    peer: null,
  };
  call.peer = new CallPeer({
    onTrack: () => renderSoftphone(),
    onConnection: (connection) => {
      call.connection = connection;
      renderSoftphone();
    },
  });
  state.call = call;
  exposeCall(call);
  startSoftphoneTimer();
  select(conv.id);
  renderSoftphone();
  try {
    await call.peer.open({ video: call.media === "video" });
    if (call.peer.cameraError) call.note = `${call.peer.cameraError} You answer with audio only.`;
    renderSoftphone();
    const sdp = await call.peer.offer();
    if (call.phase !== "connecting") return;
    const ack = await command(
      state.socket,
      "call.answer",
      { key: newKey(), call_id: call.id, sdp },
      { timeoutMs: 10000 },
    );
    if (call.phase !== "connecting") return;
    await call.peer.accept(ack.sdp);
    call.media = ack.media || call.media;
    call.phase = "talking";
    call.held = false;
    call.answeredAt = Date.now();
  } catch (error) {
    if (call.phase !== "connecting") return;
    const why = error.code ? describeError(error) : error.message;
    endSoftphone(call, "ended", { note: `The call could not be answered. ${why}` });
    return;
  } finally {
    renderSoftphone();
    if (state.selected === conv.id) renderHeader(conv);
  }
}

/** Stop our media; the softphone stays to say what happened until dismissed. */
function endSoftphone(call, phase, { reason, note, duration } = {}) {
  if (!call || !callLive(call)) return;
  call.phase = phase;
  call.endReason = reason || call.endReason;
  if (note) call.note = note;
  if (duration !== undefined) call.duration = duration;
  call.endedAt = Date.now();
  call.consent = false;
  call.peer?.close();
  detach(ui.remoteAudio);
  detach(ui.remoteVideo);
  detach(ui.localVideo);
  renderSoftphone();
  const conv = state.conversations.get(call.conversationId);
  if (conv && state.selected === conv.id) renderHeader(conv);
}

function onCallLeft(payload) {
  const call = state.call;
  if (!payload || !call || payload.call_id !== call.id || !callLive()) return;
  call.leftReason = payload.reason;
  endSoftphone(call, "left", { note: LEFT_TEXTS[payload.reason] || `You left the call (${humanize(payload.reason)}).` });
}

// The customer's microphone as the server applies it (the agent hears silence meanwhile).
/** Live words of the call (`transcript.partial`): one line per conversation, replaced as
 * the speaker goes on and cleared by the utterance's final `transcript.segment`. */
function onTranscriptPartial(payload) {
  const conv = payload && state.conversations.get(payload.conversation_id);
  if (!conv) return;
  conv.livePartial = { speaker: payload.speaker, text: String(payload.text || ""), utterance: payload.utterance };
  if (state.selected === conv.id) renderTranscriptLive(conv);
}

function renderTranscriptLive(conv) {
  const live = conv?.livePartial;
  ui.transcriptLive.hidden = !live || !live.text;
  if (!live) return;
  const who = live.speaker === "customer" ? "Customer" : live.speaker === state.self ? "You" : names.of(live.speaker);
  ui.transcriptLive.textContent = `🎙 ${who}: ${live.text}…`;
}

function onCallMuted(payload) {
  const call = state.call;
  if (!payload || !call || payload.call_id !== call.id || payload.party !== "customer") return;
  call.customerMuted = Boolean(payload.muted);
  renderSoftphone();
}

function onCallEnded(payload) {
  if (!payload || !payload.call_id) return;
  dropRings((ring) => ring.callId === payload.call_id);
  const conv = state.conversations.get(payload.conversation_id);
  if (conv && conv.logCall?.call_id === payload.call_id) {
    conv.logCall = null;
    syncDetachedCall(conv);
    renderConversationItem(conv);
    if (state.selected === conv.id) renderHeader(conv);
  }
  const call = state.call;
  if (!call || call.id !== payload.call_id) return;
  if (callLive()) {
    endSoftphone(call, "ended", { reason: payload.reason, duration: payload.duration_seconds });
  } else if (call.phase === "left") {
    // We had left already; the rest of the call has now ended too.
    call.endReason = payload.reason;
    renderSoftphone();
  }
}

async function onVideoAvailable(payload) {
  const call = state.call;
  if (!payload || !call || payload.call_id !== call.id || !callLive() || !call.peer) return;
  if (!call.peer.receiveVideo()) return;
  try {
    await renegotiateCall(state.socket, call);
  } catch (error) {
    call.note = `The customer's video could not be shown. ${describeError(error)}`;
    renderSoftphone();
  }
}

function onCallLogEvent(conv, event) {
  const data = event.data || {};
  const open = conv.logCall;
  if (event.type === "call.started") conv.logCall = { call_id: data.call_id, media: data.media, agent: null };
  else if (event.type === "call.ended" && open?.call_id === data.call_id) conv.logCall = null;
  else if (event.type === "call.upgraded" && open?.call_id === data.call_id) open.media = "video";
  else if (event.type === "call.answered" && open?.call_id === data.call_id) open.agent = data.agent;
  if (event.type.startsWith("call.") || event.type === "handler.changed") syncDetachedCall(conv);
  const call = state.call;
  if (!call || data.call_id !== call.id || !callLive()) return;
  if (event.type === "call.held" && call.phase === "talking") {
    call.held = true;
    call.phase = "held";
  } else if (event.type === "call.resumed" && call.phase === "held") {
    call.held = false;
    call.phase = "talking";
  } else if (event.type === "recording.started") {
    call.recording = true;
  } else if (event.type === "call.upgraded") {
    call.media = "video";
  } else if (event.type === "call.ended") {
    endSoftphone(call, "ended", { reason: data.reason, duration: data.duration_seconds });
    return;
  } else {
    return;
  }
  renderSoftphone();
}

/** A call we answered is still going on, but this page has no leg on it (it was reloaded,
 * or another tab answered): the softphone says so and offers to join. */
function syncDetachedCall(conv) {
  const open = conv.logCall;
  const call = state.call;
  if (call?.detached && call.conversationId === conv.id && (!open || open.call_id !== call.id || conv.ended)) {
    state.call = null;
    renderSoftphone();
    return;
  }
  const mine = open && open.agent === state.session?.id && conv.log.handler === state.self && !conv.ended;
  if (!mine || callLive() || (call && call.id === open.call_id) || conv.detachDismissed === open.call_id) return;
  state.call = {
    id: open.call_id,
    conversationId: conv.id,
    media: open.media || "audio",
    customer: conv.customer,
    phase: "left",
    leftReason: "agent_lost",
    detached: true,
    note: "This call is still going on, but this page is not connected to it (it was reloaded, lost its connection, or the call is on another tab).",
    peer: null,
  };
  exposeCall(null);
  renderSoftphone();
}

/** Run a call command from a softphone button; the error shows in the softphone. */
async function callCommand(call, event, payload, label) {
  call.busy = true;
  call.note = "";
  renderSoftphone();
  try {
    return await command(state.socket, event, { call_id: call.id, ...payload });
  } catch (error) {
    if (state.call === call) call.note = `${label} failed. ${describeError(error)}`;
    throw error;
  } finally {
    call.busy = false;
    renderSoftphone();
  }
}

async function toggleMute() {
  const call = state.call;
  if (!callLive() || call.phase === "connecting" || call.busy) return;
  const muted = !call.muted;
  call.peer.setMuted(muted);
  try {
    await callCommand(call, "call.mute", { muted }, muted ? "Mute" : "Unmute");
    call.muted = muted;
  } catch {
    call.peer.setMuted(call.muted);
  }
  renderSoftphone();
}

async function toggleHold() {
  const call = state.call;
  if (!callLive() || call.phase === "connecting" || call.busy) return;
  const hold = !call.held;
  try {
    const ack = await callCommand(call, hold ? "call.hold" : "call.unhold", { key: newKey() }, hold ? "Hold" : "Resume");
    if (!callLive(call)) return;
    call.held = Boolean(ack.held);
    if (call.phase === "talking" || call.phase === "held") call.phase = call.held ? "held" : "talking";
  } catch {
    // shown in the softphone
  }
  renderSoftphone();
}

async function confirmRecording() {
  const call = state.call;
  if (!callLive() || call.recording || call.busy) return;
  call.consent = false;
  try {
    await callCommand(call, "call.record", { key: newKey(), consent: true }, "Recording");
    call.recording = true;
  } catch {
    // shown in the softphone
  }
  renderSoftphone();
  ui.callRecord.focus();
}

async function hangUpCall() {
  const call = state.call;
  if (!callLive()) return;
  if (call.phase === "connecting") {
    // Not answered yet: stop here; the call goes on ringing for the customer's side.
    endSoftphone(call, "left", { note: "You stopped answering the call." });
    return;
  }
  try {
    const ack = await callCommand(call, "call.hangup", { key: newKey() }, "Hang up");
    if (ack.left) endSoftphone(call, "left", { note: LEFT_TEXTS.hangup });
    else endSoftphone(call, "ended", { reason: ack.reason, duration: ack.duration_seconds });
  } catch (error) {
    if (error.code === "not_found") endSoftphone(call, "ended", { note: "The call had already ended." });
  }
}

async function transferCall(call, target) {
  const conv = state.conversations.get(call.conversationId);
  ui.transfer.disabled = true;
  try {
    await callCommand(call, "call.transfer", { key: newKey(), ...target }, "Transfer");
    if (conv) markEnded(conv, "transfer");
    if (target.to_agent && callLive(call)) {
      call.phase = "transferring";
      call.transferTo = `agent:${target.to_agent}`;
    }
  } catch (error) {
    if (conv && state.selected === conv.id) showError(ui.error, `Transfer failed. ${describeError(error)}`);
  } finally {
    if (conv && state.selected === conv.id) renderHeader(conv);
    renderSoftphone();
  }
}

async function videoButton() {
  const call = state.call;
  if (!callLive() || call.phase === "connecting" || call.busy) return;
  if (call.peer.sendsVideo) {
    call.peer.setCameraOn(!call.peer.cameraOn);
    renderSoftphone();
    return;
  }
  call.busy = true;
  call.note = "";
  renderSoftphone();
  try {
    if (await call.peer.addCamera()) await renegotiateCall(state.socket, call);
    call.media = "video";
  } catch (error) {
    call.note = `Video could not be turned on. ${error.code ? describeError(error) : error.message}`;
  } finally {
    call.busy = false;
    renderSoftphone();
  }
}

function rejoinCall() {
  const call = state.call;
  if (!call || callLive()) return;
  answerCall({
    callId: call.id,
    conversationId: call.conversationId,
    customer: call.customer,
    media: call.media,
    context: null,
  });
}

let softphoneTimer = null;

function startSoftphoneTimer() {
  clearInterval(softphoneTimer);
  softphoneTimer = setInterval(renderSoftphoneTimer, 1000);
}

function renderSoftphoneTimer() {
  const call = state.call;
  if (!call) return;
  const until = callLive(call) ? Date.now() : call.endedAt || Date.now();
  const seconds = call.answeredAt ? (until - call.answeredAt) / 1000 : 0;
  ui.softphoneTimer.textContent = formatClock(seconds);
  if (!callLive(call)) clearInterval(softphoneTimer);
}

function softphoneStateText(call) {
  switch (call.phase) {
    case "connecting":
      return "Connecting…";
    case "talking":
      return ["Talking", call.muted ? "you are muted" : "", call.customerMuted ? "customer muted" : ""]
        .filter(Boolean)
        .join(" · ");
    case "held":
      return "On hold · the customer hears hold music";
    case "transferring":
      return `Transferring to ${names.of(call.transferTo)}… stay on until they answer`;
    case "left":
      return call.detached ? "Call in progress · not connected" : "You left the call";
    default: {
      const why = describeCallEnd(call.endReason, "agent");
      return `Call ended${why ? ` · ${why}` : ""}`;
    }
  }
}

function renderSoftphone() {
  const call = state.call;
  ui.softphone.hidden = !call;
  renderIncoming();
  if (!call) return;
  const live = callLive(call);
  const conv = state.conversations.get(call.conversationId);
  const name = (conv && customerName(conv)) || call.customer?.name || "Customer";
  ui.softphone.dataset.phase = call.phase;
  ui.softphone.dataset.media = call.media;
  ui.softphone.dataset.callId = call.id || "";
  ui.softphoneAvatar.textContent = name.charAt(0);
  ui.softphoneCustomer.textContent = name;
  const text = softphoneStateText(call);
  if (ui.softphoneState.textContent !== text) ui.softphoneState.textContent = text;
  let note = call.note || "";
  if (live && call.connection === "failed") note = "The call's connection failed.";
  else if (live && call.connection === "disconnected") note = "Connection problem: trying to recover…";
  ui.softphoneNote.textContent = note;
  ui.softphoneNote.hidden = !note;
  ui.softphoneNote.dataset.kind = /failed|could not|refused|never/i.test(note) ? "error" : "info";
  ui.softphoneTimer.hidden = !live && !call.answeredAt;
  ui.softphoneRecording.hidden = !(live && call.recording);

  const talking = live && call.phase !== "connecting";
  ui.softphoneControls.hidden = !live;
  for (const button of [ui.callMute, ui.callHold, ui.callTransfer, ui.callRecord, ui.callVideoOn]) {
    button.disabled = !talking || call.busy;
  }
  ui.callHangup.disabled = call.busy;
  ui.callMute.textContent = call.muted ? "Unmute" : "Mute";
  ui.callMute.dataset.active = String(call.muted);
  ui.callHold.textContent = call.held ? "Resume" : "Hold";
  ui.callHold.dataset.active = String(call.held);
  ui.callHold.disabled = ui.callHold.disabled || call.phase === "transferring";
  ui.callTransfer.disabled = ui.callTransfer.disabled || call.phase === "transferring";
  ui.callRecord.textContent = call.recording ? "Recording" : "Record";
  ui.callRecord.disabled = ui.callRecord.disabled || call.recording || call.phase === "transferring";
  ui.callRecord.setAttribute("aria-expanded", String(Boolean(call.consent)));
  const peer = call.peer;
  const sending = Boolean(peer && peer.sendsVideo);
  ui.callVideoOn.textContent = !sending ? "Video on" : peer.cameraOn ? "Camera off" : "Camera on";
  ui.softphoneConsent.hidden = !(live && call.consent && !call.recording);

  const canRejoin =
    !live &&
    call.phase === "left" &&
    ["agent_lost", "agent_failed"].includes(call.leftReason) &&
    conv &&
    !conv.ended &&
    conv.logCall?.call_id === call.id;
  ui.softphoneAfter.hidden = live;
  ui.callRejoin.hidden = !canRejoin;
  ui.callRejoin.textContent = call.detached ? "Join call" : "Rejoin";

  const showVideo = live && peer && (peer.receivesVideo || sending);
  ui.softphoneMedia.hidden = !showVideo;
  if (live && peer) {
    attach(ui.remoteAudio, peer.remote);
    if (peer.receivesVideo) attach(ui.remoteVideo, peer.remote);
    ui.localVideo.hidden = !sending;
    if (sending) attach(ui.localVideo, peer.local);
  }
  renderSoftphoneTimer();
}

// --- wiring ---------------------------------------------------------------------------------

ui.loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  login(ui.user.value);
});
ui.presenceToggle.addEventListener("click", togglePresence);

wireComposer({
  form: ui.composerForm,
  composer: ui.composer,
  send: sendText,
  typingTarget: () => state.selected,
  typing: () => typingSignal,
});

ui.handback.addEventListener("click", () =>
  act(ui.handback, "conversation.handback", {}, { done: (conv) => markEnded(conv, "handback") }),
);
ui.close.addEventListener("click", () =>
  act(ui.close, "conversation.close", { reason: "resolved" }, { done: (conv) => markEnded(conv, "close") }),
);
ui.transfer.addEventListener("click", openTransfer);
ui.transferCancel.addEventListener("click", () => {
  ui.transferPanel.hidden = true;
  ui.transfer.setAttribute("aria-expanded", "false");
});
ui.transferPanel.addEventListener("submit", (event) => {
  event.preventDefault();
  const target = ui.transferTarget.value;
  const note = ui.transferNote.value.trim();
  const payload = target.startsWith("agent:")
    ? { to_agent: target.slice("agent:".length) }
    : { to_queue: target.slice("queue:".length) };
  if (note) payload.note = note;
  ui.transferPanel.hidden = true;
  ui.transfer.setAttribute("aria-expanded", "false");
  ui.transferNote.value = "";
  // A conversation with our call on it moves with the call (call.transfer): the next
  // agent is rung, and we talk on until they answer.
  const call = state.call;
  if (call && call.conversationId === state.selected && ["talking", "held"].includes(call.phase)) {
    transferCall(call, payload);
    return;
  }
  act(ui.transfer, "conversation.transfer", payload, { done: (conv) => markEnded(conv, "transfer") });
});

ui.ticketToggle.addEventListener("click", () => {
  const conv = selectedConversation();
  if (!conv) return;
  const open = ticketOf(conv).dismissed;
  setTicketDismissed(conv, !open);
  if (open) ui.ticket.querySelector("select, textarea, input, button:not(#ticket-hide)")?.focus();
});
ui.ticketHide.addEventListener("click", () => {
  const conv = selectedConversation();
  if (!conv) return;
  setTicketDismissed(conv, true);
  ui.ticketToggle.focus();
});

ui.incomingAccept.addEventListener("click", acceptRing);
ui.incomingDecline.addEventListener("click", declineRing);
ui.callJoin.addEventListener("click", () => {
  const conv = selectedConversation();
  if (!conv) return;
  const ring = [...state.ringing.values()].find((r) => r.conversationId === conv.id && !r.offerId);
  const open = conv.logCall;
  if (ring) answerCall(ring);
  else if (open) {
    answerCall({ callId: open.call_id, conversationId: conv.id, customer: conv.customer, media: open.media, context: null });
  }
});
ui.callMute.addEventListener("click", toggleMute);
ui.callHold.addEventListener("click", toggleHold);
ui.callTransfer.addEventListener("click", () => {
  const call = state.call;
  if (!call) return;
  if (state.selected !== call.conversationId) select(call.conversationId);
  if (ui.transferPanel.hidden) openTransfer();
});
ui.callRecord.addEventListener("click", () => {
  const call = state.call;
  if (!callLive() || call.recording) return;
  call.consent = true;
  renderSoftphone();
  ui.recordConfirm.focus();
});
ui.recordConfirm.addEventListener("click", confirmRecording);
ui.recordCancel.addEventListener("click", () => {
  if (!state.call) return;
  state.call.consent = false;
  renderSoftphone();
  ui.callRecord.focus();
});
ui.callVideoOn.addEventListener("click", videoButton);
ui.callHangup.addEventListener("click", hangUpCall);
ui.callRejoin.addEventListener("click", rejoinCall);
ui.softphoneCustomer.addEventListener("click", () => {
  if (state.call) select(state.call.conversationId);
});
ui.softphoneDismiss.addEventListener("click", () => {
  if (callLive()) return;
  const dismissed = state.conversations.get(state.call?.conversationId);
  if (dismissed && state.call.detached) dismissed.detachDismissed = state.call.id;
  state.call = null;
  renderSoftphone();
  const conv = selectedConversation();
  if (conv) renderHeader(conv);
});
// The remote stream carries audio too: the <audio> element plays it, the video stays mute.
ui.remoteVideo.muted = true;
// Leaving the page drops our leg at once (the customer hears the queue audio; after a
// reload, "Join call" in the conversation header answers again).
window.addEventListener("pagehide", () => {
  if (callLive()) state.call.peer?.close();
});

document.addEventListener("visibilitychange", () => {
  const conv = selectedConversation();
  if (conv && document.visibilityState === "visible") scheduleRead(conv);
});

const preset = userFromUrl();
if (preset) {
  if ([...ui.user.options].some((o) => o.value === preset)) ui.user.value = preset;
  login(preset);
}
