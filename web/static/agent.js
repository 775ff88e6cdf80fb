// The agent workspace: presence, timed offers, assigned conversations with their handoff
// context, and the actions an agent takes (reply, hand back, transfer, close).
import {
  $,
  apiGet,
  command,
  ConversationLog,
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
      "aria-label": `Chat offer from ${customerName}`,
    },
    h(
      "div",
      { class: "offer-head" },
      h("span", { class: "avatar avatar-customer small", "aria-hidden": "true", text: customerName.charAt(0) }),
      h("strong", { class: "offer-customer", text: customerName }),
      countdown,
    ),
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
  conv.log.scrollToEnd();
  scheduleRead(conv);
  if (!conv.ended) ui.composer.focus();
}

function renderHeader(conv) {
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
}

function markEnded(conv, reason) {
  conv.ended = true;
  conv.endReason = reason || conv.endReason || "close";
  renderConversationItem(conv);
  if (state.selected === conv.id) {
    typingSignal?.stop();
    typingIndicator.hide();
    ui.transferPanel.hidden = true;
    renderHeader(conv);
  }
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
  if (event.type === "handler.changed" && event.data?.from === state.self && event.data?.to !== state.self) {
    markEnded(conv, event.data.reason);
  }
  if (event.type === "handler.changed" && event.data?.to === state.self && conv.ended) {
    conv.ended = false;
    conv.endReason = null;
  }
  if (!conv.customer && conv.log.customerId) {
    conv.customer = { id: conv.log.customerId, name: names.of(`customer:${conv.log.customerId}`) };
  }
  renderConversationItem(conv);
  if (state.selected === conv.id) renderHeader(conv);
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
  act(ui.transfer, "conversation.transfer", payload, { done: (conv) => markEnded(conv, "transfer") });
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
