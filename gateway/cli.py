"""`python -m gateway`: run Tandem.

python -m gateway serve --demo        try it: demo users, in-memory store
python -m gateway serve --config tandem.toml
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import asyncpg
from aiohttp import web

from gateway.app import StartupError, create_app
from gateway.logs import configure_logging
from gateway.settings import Settings, SettingsError, load_settings
from sessions.postgres import SchemaError, code_schema_version, migrate

__all__ = ["main"]

log = logging.getLogger("tandem")

_EPILOG = """\
configuration (highest wins): command-line options, TANDEM_* environment variables,
then the TOML file given by --config or TANDEM_CONFIG. Every setting, e.g.
  TANDEM_PORT=9000  TANDEM_JWT_SECRET=...  TANDEM_OFFER_TIMEOUT_SECONDS=20
is listed in the README's configuration table.

first time? run `make run` (or `python -m gateway serve --demo`) and open
http://127.0.0.1:8080/ : log in as customer alice and agent anna.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="Tandem: one conversation for chat, calls and app handoffs, served by a "
        "bot, a digital human and live agents.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the server (HTTP, socket.io, web pages)",
        description="Run the Tandem server until SIGINT/SIGTERM, then shut down gracefully.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080; 0 = any)")
    serve.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="demo mode: demo users and a token-minting login (never in production)",
    )
    serve.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands.add_parser("check-config", help="validate the configuration and exit")
    migrate = commands.add_parser(
        "migrate",
        help="apply database migrations (TANDEM_DATABASE_URL) and exit",
        description="Bring the PostgreSQL schema to this version of Tandem. Safe to run "
        "on every deploy: applied migrations are skipped; concurrent runs wait for each other.",
    )
    migrate.add_argument("--config", type=Path, help="TOML configuration file")
    prepare = commands.add_parser(
        "prepare",
        help="train and cache the intent model now (else the first start does it)",
        description="Build what Tandem computes once per machine: the intent model, trained "
        "from the bundled BANKING77 data and cached. `make run` and `make test` call this.",
    )
    prepare.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where to keep it (default: TANDEM_UNDERSTANDING_CACHE_DIR, else "
        "$XDG_CACHE_HOME/tandem/understanding or ~/.cache/tandem/understanding)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "prepare":
        return _prepare(args.cache_dir)
    try:
        if args.command == "serve":
            settings = load_settings(
                args.config,
                host=args.host,
                port=args.port,
                demo=args.demo,
                log_level=args.log_level,
            )
        elif args.command == "migrate":
            settings = load_settings(args.config)
        else:
            settings = load_settings()
    except SettingsError as error:
        print(f"tandem: {error}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"configuration is valid; store: {settings.store_description()}")
        return 0
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    return _serve(settings)


def _prepare(cache_dir: Path | None) -> int:
    import os
    import time

    from handoff.understanding import Understanding

    if cache_dir is None and (configured := os.environ.get("TANDEM_UNDERSTANDING_CACHE_DIR")):
        cache_dir = Path(configured)
    began = time.monotonic()
    print("understanding: loading the intent model (training it if this machine has none)")
    try:
        understanding = Understanding.load(cache_dir)
    except Exception as error:
        print(f"tandem: cannot build the intent model: {error}", file=sys.stderr)
        return 1
    print(f"understanding: ready in {time.monotonic() - began:.1f} s")
    if not understanding.refines:
        print(f"understanding: the sentence encoder is off: {understanding.refiner_off}")
    return 0


async def _migrate(settings: Settings) -> int:
    if settings.database_url is None:
        print("tandem: TANDEM_DATABASE_URL is not set: nothing to migrate", file=sys.stderr)
        return 2
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        print(f"tandem: cannot connect to PostgreSQL: {error}", file=sys.stderr)
        return 1
    try:
        applied = await migrate(conn, settings.database_schema)
    except SchemaError as error:
        print(f"tandem: {error}", file=sys.stderr)
        return 1
    finally:
        await conn.close()
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    print(f"schema {settings.database_schema!r} is at version {code_schema_version()}")
    return 0


def _serve(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(settings))
    except StartupError as error:
        log.critical("cannot start: %s", error)
        return 1
    return 0


async def _run(settings: Settings) -> None:
    # Handlers first: a SIGTERM that arrives while starting (an orchestrator changing its
    # mind) still means "stop gracefully", never the default kill.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings)
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_grace_seconds)
    await runner.setup()
    # A larger backlog than aiohttp's 128: reconnect storms after a node restart.
    site = web.TCPSite(runner, settings.host, settings.port, backlog=2048)
    await site.start()
    port = site._server.sockets[0].getsockname()[1] if site._server else settings.port  # type: ignore[union-attr]
    url = f"http://{settings.host}:{port}"
    log.info("Tandem listening on %s (store: %s)", url, settings.store_description())
    if settings.demo:
        print(
            f"\nTandem is running at {url}/  (demo mode; store: {settings.store_description()})\n"
            f"  customer chat:  {url}/customer?user=alice   (also: bob, chen)\n"
            f"  agent page:     {url}/agent?user=anna       (also: ben)\n"
            f"  supervisor:     {url}/supervisor?user=sara\n"
            "  Press Ctrl+C to stop.\n",
            flush=True,
        )
    await stop.wait()
    log.info("shutting down: telling clients to reconnect, finishing in-flight work")
    await runner.cleanup()
    log.info("stopped")
