// The supervisor view: the queue and the agents, from `queue.snapshot` every 2 seconds,
// and a read-only look at any conversation.
import {
  $,
  command,
  ConversationLog,
  describeError,
  formatDuration,
  formatTime,
  h,
  humanize,
  Names,
  newKey,
  openSession,
  pageElements,
  signIn,
  userFromUrl,
} from "./common.js";

const ui = {
  ...pageElements(),
  dashboard: $("#dashboard"),
  queueRows: $("#queue-rows"),
  queueEmpty: $("#queue-empty"),
  agentRows: $("#agent-rows"),
  agentsEmpty: $("#agents-empty"),
  dhRows: $("#dh-rows"),
  dhEmpty: $("#dh-empty"),
  updated: $("#updated"),
  statWaiting: $("#stat-waiting"),
  statLongest: $("#stat-longest"),
  statReady: $("#stat-ready"),
  statChats: $("#stat-chats"),
  statAht: $("#stat-aht"),
  viewer: $("#viewer"),
  viewerId: $("#viewer-id"),
  viewerClose: $("#viewer-close"),
  messages: $("#messages"),
};

const POLL_MS = 2000;
const names = new Names();
const state = { session: null, socket: null, polling: false, timer: null, viewing: null, log: null };

async function login(username) {
  const session = await signIn(ui, username, {
    role: "supervisor",
    whoami: (session) => [h("span", { text: session.name })],
  });
  if (!session) return;
  state.session = session;
  ui.dashboard.hidden = false;
  const socket = openSession("/supervisor", username, session, ui.status, (fresh) => {
    state.session = fresh;
  });
  state.socket = socket;
  socket.on("connect", () => {
    poll();
    if (state.viewing) view(state.viewing, { keep: true });
  });
  socket.on("agent.presence", () => poll());
  socket.on("event", (event) => {
    if (state.log && event && event.conversation_id === state.viewing) state.log.add(event);
  });
  clearInterval(state.timer);
  state.timer = setInterval(poll, POLL_MS);
}

async function poll() {
  if (state.polling || !state.socket?.connected) return;
  state.polling = true;
  try {
    const snapshot = await command(state.socket, "queue.snapshot", {}, { timeoutMs: 3000, attempts: 1 });
    render(snapshot);
    ui.updated.textContent = `updated ${formatTime()}`;
  } catch (error) {
    ui.updated.textContent = `update failed: ${describeError(error)}`;
  } finally {
    state.polling = false;
  }
}

function conversationLink(id) {
  return h("button", {
    type: "button",
    class: "link-button mono",
    text: id,
    title: "Show this conversation (read-only)",
    onclick: () => view(id),
  });
}

function meter(fraction) {
  const fill = h("span");
  // Set through the CSSOM, not a style attribute, so a strict CSP does not get in the way.
  fill.style.width = `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
  return h("span", { class: "meter", "aria-hidden": "true" }, fill);
}

function render(snapshot) {
  const entries = Array.isArray(snapshot.entries) ? snapshot.entries : [];
  const agents = Array.isArray(snapshot.agents) ? snapshot.agents : [];
  for (const agent of agents) names.set(`agent:${agent.agent_id ?? agent.id}`, agent.name);

  ui.queueRows.replaceChildren(
    ...entries.map((entry) =>
      h(
        "tr",
        { dataset: { conversationId: entry.conversation_id } },
        h("td", { text: entry.position }),
        h("td", { text: entry.customer_id ? names.of(`customer:${entry.customer_id}`) : "–" }),
        h("td", {}, entry.intent ? h("span", { class: "tag", text: humanize(entry.intent) }) : "–"),
        h("td", { text: humanize(entry.queue || "general") }),
        h("td", { class: entry.waited_seconds > 60 ? "warn" : "", text: formatDuration(entry.waited_seconds) }),
        h("td", { text: entry.priority ?? 0 }),
        h("td", { text: entry.offered_to ? names.of(`agent:${entry.offered_to}`) : "–" }),
        h("td", {}, conversationLink(entry.conversation_id)),
      ),
    ),
  );
  ui.queueEmpty.hidden = entries.length > 0;

  ui.agentRows.replaceChildren(
    ...agents.map((agent) =>
      h(
        "tr",
        { dataset: { agentId: agent.agent_id ?? agent.id } },
        h("td", { text: agent.name || agent.agent_id }),
        h("td", {}, h("span", { class: "presence-pill", dataset: { status: agent.status }, text: humanize(agent.status) })),
        h(
          "td",
          {},
          h("span", { class: "load-text", text: `${agent.load}/${agent.capacity}` }),
          meter(agent.capacity ? agent.load / agent.capacity : 0),
        ),
        h(
          "td",
          { class: "conversation-links" },
          (agent.conversations || []).length ? h("div", {}, agent.conversations.map(conversationLink)) : "–",
        ),
      ),
    ),
  );
  ui.agentsEmpty.hidden = agents.length > 0;

  // A person takes over from the digital human: the call goes to the queue, and the
  // agent offered it gets what the digital human heard and said.
  const calls = Array.isArray(snapshot.digital_human_calls) ? snapshot.digital_human_calls : [];
  ui.dhRows.replaceChildren(
    ...calls.map((call) =>
      h(
        "tr",
        { dataset: { callId: call.call_id } },
        h("td", {}, conversationLink(call.conversation_id)),
        h("td", { text: humanize(call.media) }),
        h("td", { text: formatDuration(call.seconds) }),
        h(
          "td",
          {},
          h("button", {
            type: "button",
            class: "button small",
            text: "Hand to a person",
            onclick: (event) => takeOver(call.conversation_id, event.currentTarget),
          }),
        ),
      ),
    ),
  );
  ui.dhEmpty.hidden = calls.length > 0;

  const longest = entries.reduce((max, e) => Math.max(max, Number(e.waited_seconds) || 0), 0);
  ui.statWaiting.textContent = String(entries.length);
  ui.statLongest.textContent = entries.length ? formatDuration(longest) : "–";
  ui.statReady.textContent = String(agents.filter((a) => a.status === "ready").length);
  ui.statChats.textContent = String(agents.reduce((n, a) => n + (Number(a.load) || 0), 0));
  ui.statAht.textContent = snapshot.average_handle_seconds
    ? formatDuration(snapshot.average_handle_seconds)
    : "–";
}

async function takeOver(conversationId, button) {
  button.disabled = true;
  try {
    await command(state.socket, "conversation.take_over", { key: newKey(), conversation_id: conversationId });
    poll();
  } catch (error) {
    button.disabled = false;
    ui.updated.textContent = `take-over failed: ${describeError(error)}`;
  }
}

async function view(conversationId, { keep = false } = {}) {
  if (!keep || !state.log || state.viewing !== conversationId) {
    state.viewing = conversationId;
    state.log = new ConversationLog({
      conversationId,
      container: ui.messages,
      self: null,
      perspective: "supervisor",
      names,
      onGap: (after) => resume(conversationId, after),
    });
    state.log.reset();
  }
  ui.viewerId.textContent = conversationId;
  ui.viewer.hidden = false;
  await resume(conversationId, state.log.lastSeq);
  ui.viewer.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

async function resume(conversationId, afterSeq) {
  try {
    await command(state.socket, "resume", { conversation_id: conversationId, after_seq: afterSeq });
  } catch (error) {
    ui.messages.replaceChildren(h("p", { class: "error", text: describeError(error) }));
  }
}

ui.viewerClose.addEventListener("click", () => {
  ui.viewer.hidden = true;
  state.viewing = null;
  state.log = null;
});

ui.loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  login(ui.user.value);
});

login(userFromUrl() || "sara");
