"""Every route the app serves, read from Litestar's own route table (not a hand-kept list),
so a route added later is in the authorization matrix without anyone remembering it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from litestar.routes import HTTPRoute, WebSocketRoute

from micboardd.config import Settings
from micboardd.feed.fanout import FanOut
from micboardd.state.groups import Groups
from micboardd.state.hub import Hub
from micboardd.store.database import Store
from micboardd.web.app import create_app
from micboardd.web.context import AppContext
from micboardd.web.root import find_web_root
from micboardd.web.security import ACCESS_OPT, ADMIN, PUBLIC, SAFE_METHODS

_PARAM = re.compile(r"\{(\w+):(\w+)\}")
# Values that name nothing that exists: the handler answers 404/400 at worst.
_FILL = {"int": "1", "str": "nothing-here", "path": "nothing-here"}


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str  # as Litestar writes it: /api/groups/{group_id:int}
    public: bool  # opt={"access": "public"}: login, logout, session
    admin_only: bool = False  # opt={"access": "admin"}: reads need admin too
    in_schema: bool = True  # listed in /schema/openapi.json

    @property
    def mutating(self) -> bool:
        return self.method not in SAFE_METHODS

    @property
    def url(self) -> str:
        return _PARAM.sub(lambda m: _FILL.get(m.group(2), "x"), self.template)

    @property
    def openapi_path(self) -> str:
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.template)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def build_app_context(state_dir: Path) -> AppContext:
    """What the daemon hands create_app, minus the running parts (nothing is started)."""
    hub = Hub()
    store = Store(state_dir / "micboardd.db")
    return AppContext(
        settings=Settings(state_dir=state_dir),
        hub=hub,
        fanout=FanOut(hub),
        store=store,
        web_root=find_web_root(),
        groups=Groups(store, hub),
    )


def route_table(state_dir: Path) -> tuple[list[Route], list[str]]:
    """(HTTP routes, WebSocket paths) of the app the daemon serves."""
    app = create_app(build_app_context(state_dir))
    http: list[Route] = []
    ws: list[str] = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            ws.append(route.path)
        elif isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                public = handler.opt.get(ACCESS_OPT) == PUBLIC
                admin_only = handler.opt.get(ACCESS_OPT) == ADMIN
                in_schema = bool(handler.resolve_include_in_schema())
                for method in sorted(handler.http_methods):
                    http.append(Route(method, route.path, public, admin_only, in_schema))
    return http, ws
