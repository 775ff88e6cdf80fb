"""Serving the browser pages and the vendored socket.io client (no CDN: banks forbid them)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

__all__ = ["default_web_root", "web_routes"]

_PAGES = {
    "/": "index.html",
    "/customer": "customer.html",
    "/agent": "agent.html",
    "/supervisor": "supervisor.html",
}
_VENDOR = ("node_modules", "socket.io-client", "dist")


def default_web_root() -> Path:
    return Path(__file__).resolve().parent.parent / "web"


def web_routes(root: Path) -> list[web.RouteDef]:
    if not root.is_dir():
        raise FileNotFoundError(f"web root {root} does not exist (TANDEM_WEB_ROOT)")
    client = root.joinpath(*_VENDOR, "socket.io.min.js")

    def page(route: str, name: str) -> web.RouteDef:
        path = root / name

        async def serve(request: web.Request) -> web.FileResponse:
            if not path.is_file():
                raise web.HTTPNotFound(text=f"{name} is not built")
            return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

        return web.get(route, serve)

    routes = [page(route, name) for route, name in _PAGES.items()]

    async def vendor(request: web.Request) -> web.FileResponse:
        if not client.is_file():
            raise web.HTTPNotFound(text="socket.io client missing: run `make run` (npm ci)")
        return web.FileResponse(client)

    routes.append(web.get("/vendor/socket.io.min.js", vendor))
    static = root / "static"
    if static.is_dir():
        routes.append(web.static("/static", static))
    return routes
