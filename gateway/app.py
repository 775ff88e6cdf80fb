"""The composition root: `create_app(settings)` builds every part and owns its lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import socketio
from aiohttp import web
from aiortc import RTCIceServer
from redis.exceptions import RedisError

from gateway.api import SERVICES, errors_middleware, routes
from gateway.auth import TokenIssuer, TokenVerifier
from gateway.calls_api import call_routes
from gateway.context import Services
from gateway.delivery import Delivery
from gateway.demo import seed_demo
from gateway.digital_human import DigitalHumans
from gateway.llm_openai import OpenAIChatLLM
from gateway.namespaces import AgentNamespace, CustomerNamespace, SupervisorNamespace
from gateway.notifier import SocketNotifier
from gateway.settings import Settings
from gateway.signaling import CallSettings, CallSignaling
from gateway.speech import SpeechRuntime
from gateway.understanding import UnderstandingRuntime
from gateway.web_assets import default_web_root, web_routes
from handoff.bot.banking_bot import BankingBot
from handoff.bot.intents import IntentSupport, understood_json
from handoff.bot.knowledge import load_knowledge
from handoff.conductor import Conductor
from handoff.directory import MemoryDirectory
from handoff.presence_board import LocalPresenceBoard, RedisPresenceBoard
from handoff.queue import MemoryRoutingQueue
from handoff.router import Router, RouterSettings
from handoff.selfservice import DemoBank, SelfService
from handoff.tickets.desk import TicketDesk
from handoff.understanding.answers import load_answers
from handoff.understanding.routes import load_routes
from media.digital_human.config import AvatarConfig
from media.ice import IceSettings
from media.speech.config import SpeechConfig
from media.speech.factory import Speech
from sessions.leases import LocalLeases
from sessions.locks import LocalLocks
from sessions.memory_store import MemoryStore
from sessions.postgres import PostgresStore, SchemaError
from sessions.redis import RedisFeedBus, RedisLeases, RedisStateCache
from sessions.service import ConversationService, utc_now
from sessions.store import SessionStore

__all__ = ["SIO", "StartupError", "create_app"]

log = logging.getLogger("tandem.app")

SIO = web.AppKey("sio", socketio.AsyncServer)


def _store(settings: Settings, checks: dict[str, Callable[[], Awaitable[None]]]) -> SessionStore:
    if settings.database_url is None:
        store: SessionStore = MemoryStore()
        checks["store"] = store.ping
        return store
    feed, shared = None, None
    if settings.redis_url is not None:
        feed = RedisFeedBus(
            settings.redis_url, prefix=settings.redis_prefix, node_id=settings.node_id
        )
        shared = RedisStateCache(settings.redis_url, prefix=settings.redis_prefix)
        checks["redis"] = feed.ping
    store = PostgresStore(
        settings.database_url,
        schema=settings.database_schema,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
        migrate_on_start=settings.migrate_on_start,
        feed=feed,
        writers=settings.database_writers,
        shared_states=shared,
    )
    checks["store"] = store.ping
    return store


def create_app(settings: Settings, *, speech_engines: Speech | None = None) -> web.Application:
    """The server. `speech_engines`: engines to use as they are (a bank's own, tests'
    fakes) instead of loading the configured ones."""
    checks: dict[str, Callable[[], Awaitable[None]]] = {}
    store = _store(settings, checks)
    leases = (
        RedisLeases(settings.redis_url, prefix=settings.redis_prefix, node_id=settings.node_id)
        if settings.redis_url
        else LocalLeases()
    )
    board = (
        RedisPresenceBoard(settings.redis_url, prefix=settings.redis_prefix)
        if settings.redis_url
        else LocalPresenceBoard()
    )
    conversations = ConversationService(store, LocalLocks(), clock=utc_now)
    directory = MemoryDirectory()
    if settings.demo:
        seed_demo(directory)

    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        # Across nodes, emits to a room reach its members wherever they are connected.
        client_manager=(
            socketio.AsyncRedisManager(
                settings.redis_url, channel=f"{settings.redis_prefix}socketio"
            )
            if settings.redis_url
            else None
        ),
        max_http_buffer_size=settings.max_packet_bytes,
        ping_interval=settings.ping_interval_seconds,
        # Same-origin only: the pages are served by this server.
        cors_allowed_origins=None,
        logger=False,
        engineio_logger=False,
    )

    async def emit(event: str, data: dict[str, Any], sid: str, namespace: str) -> None:
        # Delivery serves this node's own connections: never through the Redis manager.
        await sio.emit(event, data, to=sid, namespace=namespace, ignore_queue=True)

    delivery = Delivery(store, emit)
    router = Router(
        conversations,
        MemoryRoutingQueue(),
        directory,
        SocketNotifier(sio, delivery),
        RouterSettings(
            offer_timeout_seconds=settings.offer_timeout_seconds,
            wrap_up_seconds=settings.wrap_up_seconds,
            agent_capacity=settings.agent_capacity,
            agent_lost_grace_seconds=settings.agent_lost_grace_seconds,
            average_handle_seconds=settings.average_handle_seconds,
            presence_heartbeat_seconds=settings.presence_heartbeat_seconds,
            dispatch_interval_seconds=settings.dispatch_interval_seconds,
            skill_overflow_seconds=settings.skill_overflow_seconds,
            call_capacity_weight=settings.call_capacity_weight,
        ),
        clock=utc_now,
        leases=leases,
        board=board,
    )
    understanding = UnderstandingRuntime(
        enabled=settings.understanding, cache_dir=settings.understanding_cache_dir
    )
    answers = load_answers()
    intents = IntentSupport(
        understander=understanding,
        answers=answers,
        routes=load_routes(answers, settings.intent_routes_file),
        selfservice=_self_service(settings),
        threshold=settings.understanding_threshold,
    )
    bot = BankingBot(load_knowledge(settings.knowledge_file), intents=intents)
    llm = (
        OpenAIChatLLM(settings.llm_base_url, settings.llm_api_key, settings.llm_model)
        if settings.llm_base_url
        else None
    )

    async def understand_for_tickets(text: str) -> dict[str, Any] | None:
        if not understanding.ready:
            return None
        return understood_json(await understanding.understand(text))

    conductor = Conductor(conversations, router, bot, leases, intents.routes)

    async def emit_to(event: str, data: dict[str, Any], to: str | list[str], ns: str) -> None:
        await sio.emit(event, data, to=to, namespace=ns)

    speaks = settings.transcripts or settings.calls_first == "digital_human"
    speech = SpeechRuntime(
        SpeechConfig.from_env() if settings.calls_enabled and speaks else None,
        transcribe=settings.transcripts,
        engines=speech_engines if settings.calls_enabled else None,
    )
    digital_humans = DigitalHumans(
        enabled=settings.calls_enabled and settings.calls_first == "digital_human",
        speech=speech,
        bot=BankingBot(
            bot.knowledge,
            intents=intents,
            max_misunderstandings=settings.call_max_misunderstandings,
        ),
        conversations=conversations,
        clock=utc_now,
        avatar=AvatarConfig.from_env(),
    )
    signaling = CallSignaling(
        _call_settings(settings),
        conversations=conversations,
        router=router,
        conductor=conductor,
        directory=directory,
        emit=emit_to,
        clock=utc_now,
        speech=speech,
        digital_humans=digital_humans,
    )
    services = Services(
        settings=settings,
        store=store,
        conversations=conversations,
        router=router,
        conductor=conductor,
        delivery=delivery,
        directory=directory,
        verifier=TokenVerifier(settings),
        issuer=TokenIssuer(settings) if settings.demo else None,
        clock=utc_now,
        checks=checks,
        understanding=understanding,
        tickets=TicketDesk(
            understand_for_tickets, llm, llm_timeout_seconds=settings.llm_timeout_seconds
        ),
        signaling=signaling,
        speech=speech,
    )

    app = web.Application(middlewares=[errors_middleware], client_max_size=1024 * 1024)
    app[SERVICES] = services
    app[SIO] = sio
    sio.attach(app)
    for namespace in (CustomerNamespace, AgentNamespace, SupervisorNamespace):
        sio.register_namespace(namespace(services))
    app.add_routes(routes())
    app.add_routes(call_routes())
    app.add_routes(web_routes(settings.web_root or default_web_root()))
    app.cleanup_ctx.append(_open_store)
    app.cleanup_ctx.append(_load_understanding)
    # After the store (calls log their end as they close), before the feed (which is
    # stopped first, and feeds the calls).
    app.cleanup_ctx.append(_run_calls)
    if llm is not None:

        async def close_llm(_app: web.Application) -> None:
            await llm.close()

        app.on_cleanup.append(close_llm)
    for closable in (leases, board):
        if isinstance(closable, RedisLeases | RedisPresenceBoard):
            app.on_cleanup.append(lambda _app, c=closable: c.close())
    app.cleanup_ctx.append(_run_feed)
    app.on_shutdown.append(_say_goodbye)
    return app


def _call_settings(settings: Settings) -> CallSettings:
    servers = [
        RTCIceServer(urls=url, username=settings.ice_username, credential=settings.ice_credential)
        for url in settings.ice_servers
    ]
    return CallSettings(
        enabled=settings.calls_enabled,
        ice=IceSettings.from_strings(
            ice_servers=servers,
            host_addresses=settings.ice_host_addresses,
            allowed_networks=settings.ice_allowed_networks,
        ),
        recordings_dir=settings.recordings_dir,
        node_id=settings.node_id,
    )


def _self_service(settings: Settings) -> SelfService | None:
    bank = settings.bank or ("demo" if settings.demo else "none")
    if bank == "none":
        log.info("self-service tasks are off (no core-banking system: TANDEM_BANK)")
        return None
    if not settings.demo:
        log.warning("self-service runs against the DEMO bank: made-up customers and cards")
    return SelfService(DemoBank(clock=utc_now))


class StartupError(Exception):
    """The server cannot start; the message says why and what to do."""


async def _open_store(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    try:
        await services.store.start()
    except SchemaError as error:
        raise StartupError(str(error)) from None
    except (OSError, TimeoutError, asyncpg.PostgresError, RedisError) as error:
        raise StartupError(
            f"cannot reach the store ({services.settings.store_description()}): {error}"
        ) from None
    log.info("store: %s", services.settings.store_description())
    await services.router.recover()
    yield
    await services.store.close()


async def _load_understanding(app: web.Application) -> AsyncIterator[None]:
    understanding = app[SERVICES].understanding
    understanding.start()
    yield
    await understanding.close()


async def _run_calls(app: web.Application) -> AsyncIterator[None]:
    """The call assets and the speech engines are built on threads from here on; calls
    end at shutdown, then the engines stop."""
    signaling = app[SERVICES].signaling
    speech = app[SERVICES].speech
    speech.start()
    signaling.start()
    yield
    await signaling.close()
    await speech.close()


async def _run_feed(app: web.Application) -> AsyncIterator[None]:
    """Follow the store's feed: the conductor notes each event (reactions run in their own
    tasks), then delivery sends it to local followers. One consumer, one wake-up per event."""
    services = app[SERVICES]
    feed = services.store.subscribe()

    async def consume() -> None:
        async for event in feed:
            try:
                services.conductor.notice(event)
                services.signaling.notice(event)
                await services.delivery.publish(event)
            except Exception:
                log.exception("feed: handling %s#%s failed", event.conversation_id, event.seq)

    task = asyncio.create_task(consume(), name="feed")
    heartbeat = asyncio.create_task(services.router.run(), name="router-ticks")
    yield
    heartbeat.cancel()
    # In-flight reactions (a bot answer being written) finish before the store closes.
    grace = services.settings.shutdown_grace_seconds
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(services.conductor.idle(), timeout=grace)
    await services.router.close()
    await services.conductor.close()
    await feed.aclose()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, timeout=5)


async def _say_goodbye(app: web.Application) -> None:
    """Graceful shutdown: tell every client to reconnect (to another node, behind a load
    balancer) instead of letting their sockets die mid-message."""
    sio = app[SIO]
    for namespace in ("/customer", "/agent", "/supervisor"):
        with contextlib.suppress(Exception):
            await sio.emit("server.shutdown", {"reconnect": True}, namespace=namespace)
    sockets = list(sio.eio.sockets.values())
    with contextlib.suppress(Exception):
        await sio.eio.disconnect()  # every client, all namespaces
    # engine.io sends its close packet but leaves the websocket open until the client
    # closes it, and browsers wait for the server: each would hold shutdown until
    # aiohttp's timeout. A None in a socket's queue makes its writer close the websocket.
    # (engine.io internals, python-engineio 4.x; pinned through python-socketio < 6.)
    for socket in sockets:
        with contextlib.suppress(Exception):
            await socket.queue.put(None)
    await sio.shutdown()
