"""Locust load test: customers and agents speaking Tandem's real wire protocol.

Needs a Tandem in demo mode (`customer-<anything>` / `agent-<anything>` log in through
POST /api/v1/demo/login). Headless, 20 users for 30 s:

    .venv/bin/locust -f loadtests/locustfile.py --headless -u 20 -r 5 -t 30s \
        --host http://127.0.0.1:8080

Users (python-socketio's sync Client, websocket transport, on locust's gevent):

* CustomerUser: logs in as customer-<uuid>, connects to /customer, conversation.start,
  asks the bot a few knowledge questions and waits for each answer, asks for a person
  (agent.request), waits to be served, exchanges messages with the agent, then waits for
  the agent to close or hand back. Then starts over (a handed-back conversation is
  continued, a closed one replaced by a new one).
* AgentUser: logs in as agent-<uuid>, connects to /agent, presence.set ready, accepts
  offers, replies to every customer message after a short think time, and after a few
  exchanges closes (70%) or hands back (30%) the conversation.

Every command/ack round trip is reported to Locust as request_type "sio" with the event
name; waits for the other side are reported as "wait: ..." entries (time from the action
to the awaited event), so Locust's table shows both the server's ack latency and the
end-to-end experience. The agent's last message carries a marker so the customer knows
the conversation is being wrapped up and stops writing (no race with the close).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio
from locust import HttpUser, between, constant, task

log = logging.getLogger("tandem.locust")

ACK_TIMEOUT = 10.0  # seconds for any ack
BOT_ANSWER_TIMEOUT = 10.0
AGENT_WAIT_TIMEOUT = 60.0  # queue wait before a customer gives up for this round
AGENT_REPLY_TIMEOUT = 30.0
WRAP_TIMEOUT = 30.0

WRAP_MARK = "[wrapping up]"

QUESTIONS = [
    "What is my balance?",
    "Where can I see my transaction history?",
    "How do I activate my new card?",
    "What is the maximum amount I can transfer?",
    "How do I get a bank statement?",
    "What time does the branch open?",
    "I forgot my PIN",
    "How do I change my PIN number?",
    "Daily transfer limit",
    "Branch opening hours",
]

CUSTOMER_LINES = [
    "My card payment was declined at a shop yesterday, can you check why?",
    "It was about 40 euros, at a supermarket.",
    "I also want to raise my daily limit for a while.",
    "Thanks, and is my card still active?",
    "OK, that makes sense.",
    "One more thing: will this show up on my statement?",
]

AGENT_LINES = [
    "Hello, I'm looking into that for you now.",
    "I can see the payment, one moment please.",
    "That's done on our side.",
    "You're welcome. Anything else I can help with?",
]


class AckError(Exception):
    """A command was answered with {ok: false}."""

    def __init__(self, event: str, error: Any) -> None:
        self.code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        super().__init__(f"{event}: {self.code}: {message}")


class WaitTimeout(Exception):
    pass


class Conversation:
    """What one client knows about one conversation, from the events it received."""

    def __init__(self, conversation_id: str) -> None:
        self.id = conversation_id
        self.seen: set[int] = set()
        self.last_seq = 0  # highest seq seen
        self.handler: str | None = None
        self._handler_seq = 0
        self.closed = False
        self.messages: list[dict[str, Any]] = []  # message.sent events, by seq

    def add(self, event: dict[str, Any]) -> bool:
        """Take an event in; False if already seen (events may be handled out of order:
        the sync client runs each incoming packet's handler in its own greenlet)."""
        seq = event.get("seq")
        if not isinstance(seq, int) or seq in self.seen:
            return False
        self.seen.add(seq)
        self.last_seq = max(self.last_seq, seq)
        kind = event.get("type")
        data = event.get("data") or {}
        if kind == "message.sent":
            self.messages.append(event)
            if len(self.messages) > 1 and self.messages[-2]["seq"] > seq:
                self.messages.sort(key=lambda e: e["seq"])
        elif kind == "handler.changed" and seq > self._handler_seq:
            self._handler_seq = seq
            self.handler = data.get("to")
        elif kind == "conversation.closed":
            self.closed = True
        return True


class SioSession:
    """A sync socket.io client on one namespace, with an inbox and a condition to wait on."""

    WATCH = (
        "offer",
        "offer.withdrawn",
        "assigned",
        "unassigned",
        "presence",
        "queue.position",
    )

    def __init__(self, user: HttpUser, namespace: str) -> None:
        self.user = user
        self.namespace = namespace
        self.sio = socketio.Client(reconnection=False, logger=False, engineio_logger=False)
        self.cond = threading.Condition()  # gevent-patched by locust
        self.conversations: dict[str, Conversation] = {}
        self.inbox: list[tuple[str, Any]] = []  # ephemeral events, oldest first
        self.sio.on("event", self._on_event, namespace=namespace)
        for name in self.WATCH:
            self.sio.on(name, self._pusher(name), namespace=namespace)

    # -- reporting ---------------------------------------------------------------------

    def report(self, name: str, started: float, exception: BaseException | None = None) -> None:
        self.user.environment.events.request.fire(
            request_type="sio",
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=0,
            exception=exception,
            context={},
        )

    # -- incoming ----------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        with self.cond:
            conversation = self.conversation(str(event.get("conversation_id")))
            if conversation.add(event):  # an already seen seq is ignored, as the protocol says
                self.cond.notify_all()

    def _pusher(self, name: str) -> Callable[[Any], None]:
        def push(payload: Any) -> None:
            with self.cond:
                self.inbox.append((name, payload))
                self.cond.notify_all()

        return push

    def conversation(self, conversation_id: str) -> Conversation:
        found = self.conversations.get(conversation_id)
        if found is None:
            found = self.conversations[conversation_id] = Conversation(conversation_id)
        return found

    def wait_until(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """The predicate's first truthy value, checked under the lock; WaitTimeout if none."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"no match within {timeout:.0f}s")
                self.cond.wait(remaining)

    def timed_wait(self, name: str, predicate: Callable[[], Any], timeout: float,
                   started: float | None = None) -> Any:  # fmt: skip
        """wait_until, reported to Locust as `name` (from `started`, default now)."""
        t0 = time.perf_counter() if started is None else started
        try:
            value = self.wait_until(predicate, timeout)
        except WaitTimeout as error:
            self.report(name, t0, error)
            return None
        self.report(name, t0)
        return value

    # -- outgoing ----------------------------------------------------------------------

    def connect(self, token: str) -> bool:
        t0 = time.perf_counter()
        try:
            self.sio.connect(
                self.user.host,
                namespaces=[self.namespace],
                auth={"token": token},
                transports=["websocket"],
                wait_timeout=ACK_TIMEOUT,
            )
        except Exception as error:
            self.report(f"connect {self.namespace}", t0, error)
            return False
        self.report(f"connect {self.namespace}", t0)
        return True

    def call(self, event: str, data: dict[str, Any], quiet_codes: tuple[str, ...] = ()) -> Any:
        """Send a command and wait for its ack, reported as `event`. The ack on success;
        None on failure (reported as a failure unless its code is in quiet_codes)."""
        t0 = time.perf_counter()
        try:
            ack = self.sio.call(event, data, namespace=self.namespace, timeout=ACK_TIMEOUT)
        except Exception as error:  # TimeoutError, BadNamespaceError, disconnected ...
            self.report(event, t0, error)
            return None
        if isinstance(ack, dict) and ack.get("ok"):
            self.report(event, t0)
            return ack
        failure = AckError(event, ack.get("error") if isinstance(ack, dict) else ack)
        if failure.code in quiet_codes:
            self.report(f"{event} ({failure.code})", t0)
        else:
            self.report(event, t0, failure)
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.sio.disconnect()


def _key() -> str:
    return uuid.uuid4().hex


def _login(user: HttpUser, username: str) -> str | None:
    with user.client.post(
        "/api/v1/demo/login",
        json={"username": username},
        name="POST /api/v1/demo/login",
        catch_response=True,
        timeout=ACK_TIMEOUT,
    ) as response:
        if response.status_code != 200:
            response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
            return None
        token = (response.json() or {}).get("token")
        if not token:
            response.failure("no token in the answer")
            return None
        return str(token)


class CustomerUser(HttpUser):
    weight = 3
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.session: SioSession | None = None
        self.username = f"customer-{uuid.uuid4()}"
        token = _login(self, self.username)
        if token is None:
            return
        session = SioSession(self, "/customer")
        if session.connect(token):
            self.session = session

    def on_stop(self) -> None:
        if self.session is not None:
            self.session.close()

    @task
    def chat(self) -> None:
        s = self.session
        if s is None:
            self.on_start()  # login or connect failed before: try again
            return
        if not s.sio.connected:
            self.session = None
            return
        ack = s.call("conversation.start", {"key": _key()})
        if ack is None:
            return
        c = s.conversation(ack["conversation_id"])
        if "seq" in ack:  # created now: wait until the start events are here
            s.wait_until(lambda: c.last_seq >= ack["seq"], ACK_TIMEOUT)
        else:
            s.wait_until(lambda: c.handler is not None, ACK_TIMEOUT)

        if c.handler in ("bot", "digital_human", None):
            for question in random.sample(QUESTIONS, k=random.randint(2, 3)):
                if not self._ask_bot(s, c, question):
                    return
                time.sleep(random.uniform(0.3, 1.0))
            asked = time.perf_counter()
            if s.call("agent.request", {"key": _key(), "conversation_id": c.id}) is None:
                return
        else:
            asked = time.perf_counter()  # already queued (or with an agent) from before

        agent = s.timed_wait(
            "wait: agent assigned",
            lambda: c.handler if (c.handler or "").startswith("agent:") or c.closed else None,
            AGENT_WAIT_TIMEOUT,
            started=asked,
        )
        if not agent or c.closed:
            return

        for line in random.sample(CUSTOMER_LINES, k=len(CUSTOMER_LINES)):
            if c.closed or not (c.handler or "").startswith("agent:"):
                break
            t_sent = time.perf_counter()
            sent = s.call(
                "message.send",
                {"key": _key(), "conversation_id": c.id, "text": line},
                quiet_codes=("conversation_closed",),
            )
            if sent is None:
                break
            reply = s.timed_wait(
                "wait: agent reply",
                lambda seq=sent["seq"]: self._reply_or_end(c, seq),
                AGENT_REPLY_TIMEOUT,
                started=t_sent,
            )
            if not reply or reply == "ended" or WRAP_MARK in reply["data"].get("text", ""):
                break
            time.sleep(random.uniform(0.2, 1.0))

        s.timed_wait(
            "wait: close or handback",
            lambda: c.closed or not (c.handler or "").startswith("agent:"),
            WRAP_TIMEOUT,
        )

    @staticmethod
    def _reply_or_end(c: Conversation, after_seq: int) -> Any:
        for event in reversed(c.messages):
            if event["seq"] <= after_seq:
                break
            if str(event.get("actor", "")).startswith("agent:"):
                return event
        if c.closed or not (c.handler or "").startswith("agent:"):
            return "ended"
        return None

    def _ask_bot(self, s: SioSession, c: Conversation, question: str) -> bool:
        t_sent = time.perf_counter()
        sent = s.call("message.send", {"key": _key(), "conversation_id": c.id, "text": question})
        if sent is None:
            return False
        my_seq = sent["seq"]
        answer = s.timed_wait(
            "wait: bot answer",
            lambda: next(
                (e for e in c.messages if e["seq"] > my_seq and e.get("actor") == "bot"), None
            ),
            BOT_ANSWER_TIMEOUT,
            started=t_sent,
        )
        return answer is not None


class _Assignment:
    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self.answered_seq = 0  # last customer message seq answered
        self.replies = 0
        self.target = random.randint(2, 4)
        self.due: float | None = None  # when to send the next reply
        self.wrapping = False


class AgentUser(HttpUser):
    weight = 1
    wait_time = constant(0)

    def on_start(self) -> None:
        self.session: SioSession | None = None
        self.assignments: dict[str, _Assignment] = {}
        token = _login(self, f"agent-{uuid.uuid4()}")
        if token is None:
            return
        session = SioSession(self, "/agent")
        if not session.connect(token):
            return
        self.session = session
        session.call("presence.set", {"status": "ready"})
        with session.cond:  # the not_ready presence sent on connect is old news now
            session.inbox = [item for item in session.inbox if item[0] != "presence"]

    def on_stop(self) -> None:
        if self.session is not None:
            self.session.close()

    @task
    def work(self) -> None:
        """One turn of the agent's loop: take what came in, then do what is due."""
        s = self.session
        if s is None:
            time.sleep(1)
            self.on_start()
            return
        if not s.sio.connected:
            self.session = None
            return
        with contextlib.suppress(WaitTimeout):
            s.wait_until(lambda: s.inbox or self._due(s), timeout=self._next_due_in())
        with s.cond:
            inbox, s.inbox = s.inbox, []
        for name, payload in inbox:
            self._handle(s, name, payload)
        for assignment in list(self.assignments.values()):
            self._maybe_reply(s, assignment)

    def _next_due_in(self) -> float:
        now = time.monotonic()
        dues = [a.due for a in self.assignments.values() if a.due is not None]
        return max(0.01, min([1.0, *(d - now for d in dues)]))

    def _due(self, s: SioSession) -> bool:
        """Under s.cond: is there a customer message to schedule or a reply due?"""
        now = time.monotonic()
        for a in self.assignments.values():
            if a.due is not None and a.due <= now:
                return True
            if a.due is None and not a.wrapping and self._pending_customer_seq(s, a):
                return True
        return False

    def _pending_customer_seq(self, s: SioSession, a: _Assignment) -> int:
        c = s.conversations.get(a.conversation_id)
        if c is None:
            return 0
        for event in reversed(c.messages):
            if event["seq"] <= a.answered_seq:
                break
            if str(event.get("actor", "")).startswith("customer:"):
                return int(event["seq"])
        return 0

    def _handle(self, s: SioSession, name: str, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        if name == "offer":
            time.sleep(random.uniform(0.1, 0.5))  # reading the context
            ack = s.call(
                "offer.accept",
                {"key": _key(), "offer_id": payload.get("offer_id")},
                quiet_codes=("not_found",),  # withdrawn (timeout, taken) meanwhile
            )
            if ack is not None:
                self._assign(s, ack["conversation_id"])
        elif name == "assigned":
            cid = payload.get("conversation_id")
            if cid and cid not in self.assignments:
                self._assign(s, cid)
        elif name == "unassigned":
            self.assignments.pop(payload.get("conversation_id"), None)
        elif name == "presence" and payload.get("status") == "not_ready":
            # A missed offer sets the agent not ready: this agent wants work.
            s.call("presence.set", {"status": "ready"})

    def _assign(self, s: SioSession, conversation_id: str) -> None:
        """Start serving: what the customer said before now (to the bot) is context, not
        something to answer, so only later customer messages get replies."""
        assignment = _Assignment(conversation_id)
        with s.cond:
            assignment.answered_seq = s.conversation(conversation_id).last_seq
        self.assignments[conversation_id] = assignment

    def _maybe_reply(self, s: SioSession, a: _Assignment) -> None:
        if a.wrapping:
            return
        with s.cond:
            pending = self._pending_customer_seq(s, a)
            c = s.conversations.get(a.conversation_id)
            gone = c is not None and (
                c.closed or (c.handler is not None and not c.handler.startswith("agent:"))
            )
        if gone:
            self.assignments.pop(a.conversation_id, None)
            return
        if not pending:
            return
        now = time.monotonic()
        if a.due is None:
            a.due = now + random.uniform(0.3, 1.2)  # typing
            return
        if a.due > now:
            return
        a.due = None
        a.answered_seq = pending
        a.replies += 1
        last = a.replies >= a.target
        close = random.random() < 0.7
        if last:
            text = (
                f"Glad I could help, I'm closing this chat now. {WRAP_MARK}"
                if close
                else f"I'm handing you back to our assistant for anything else. {WRAP_MARK}"
            )
        else:
            text = AGENT_LINES[(a.replies - 1) % len(AGENT_LINES)]
        sent = s.call(
            "message.send",
            {"key": _key(), "conversation_id": a.conversation_id, "text": text},
            quiet_codes=("conversation_closed", "forbidden"),
        )
        if sent is None or not last:
            return
        a.wrapping = True
        time.sleep(random.uniform(0.2, 0.6))
        if close:
            s.call("conversation.close", {"key": _key(), "conversation_id": a.conversation_id})
        else:
            s.call(
                "conversation.handback",
                {"key": _key(), "conversation_id": a.conversation_id, "note": "answered"},
            )
        self.assignments.pop(a.conversation_id, None)
