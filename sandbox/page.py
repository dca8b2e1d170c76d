"""The simulator's HTML page (Jinja2, autoescaped) and its static files: no asset comes from the internet."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from jinja2 import Environment, FileSystemLoader

from sandbox.callbacks import SandboxAccount

HERE = Path(__file__).resolve().parent
_templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)


def page_routes(account: SandboxAccount) -> list[web.AbstractRouteDef]:
    """`/` (the page) and `/static/...`, relative to wherever the simulator is mounted."""

    async def page(_request: web.Request) -> web.Response:
        html = _templates.get_template("simulator.html").render(
            account=account, modes=account.modes, default_mode=account.default_mode
        )
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    return [web.get("/", page), web.static("/static", HERE / "static")]
