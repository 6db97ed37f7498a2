"""The REST controllers are handed the app's context by name (web/routes/inject.py), which
nothing checks when the app starts: these tests check that the one `AppContext` has what
each controller's view of it reads, by type (mypy, on this file) and by name (here)."""

from __future__ import annotations

import typing
from pathlib import Path

from litestar.di import Dependency
from litestar.handlers import HTTPRouteHandler
from typing_extensions import get_protocol_members

from micboardd.web.app import CONTROLLERS
from micboardd.web.context import AppContext
from micboardd.web.metrics import MetricsSource
from micboardd.web.routes.alerts import AlertsContext
from micboardd.web.routes.devices import DevicesContext
from micboardd.web.routes.groups import GroupsContext
from micboardd.web.routes.health import HealthContext
from micboardd.web.routes.inject import CONTEXT
from micboardd.web.routes.photos import PhotosContext
from micboardd.web.routes.placeholders import PlaceholdersContext
from micboardd.web.routes.receivers import ReceiversContext
from micboardd.web.routes.settings import SettingsContext
from micboardd.web.routes.system_api import SystemApiContext
from tests.security.routes import build_app_context


def views_of(ctx: AppContext) -> tuple[object, ...]:
    """mypy checks this assignment: the context is each of these views."""
    views: tuple[
        HealthContext,
        DevicesContext,
        ReceiversContext,
        GroupsContext,
        SettingsContext,
        AlertsContext,
        SystemApiContext,
        PlaceholdersContext,
        PhotosContext,
        MetricsSource,
    ] = (ctx, ctx, ctx, ctx, ctx, ctx, ctx, ctx, ctx, ctx)
    return views


def injected_views() -> dict[str, type]:
    """`handler name -> the protocol it types ctx with`, for every REST handler."""
    found: dict[str, type] = {}
    for controller in CONTROLLERS:
        for handler in vars(controller).values():
            if not isinstance(handler, HTTPRouteHandler):
                continue
            hints = typing.get_type_hints(handler.fn, include_extras=True)
            hint = hints.get(CONTEXT)
            if hint is None:
                continue
            assert any(isinstance(m, Dependency) for m in hint.__metadata__), handler
            found[f"{controller.__name__}.{handler.handler_name}"] = hint.__origin__
    return found


def test_every_view_a_controller_reads_is_in_the_app_context(tmp_path: Path) -> None:
    ctx = build_app_context(tmp_path)
    views = injected_views()
    assert len(views) >= 30, sorted(views)  # nearly every REST route reads the context
    assert {type(v) for v in views_of(ctx)} == {AppContext}
    missing = {
        name: sorted(m for m in get_protocol_members(view) if not hasattr(ctx, m))
        for name, view in views.items()
    }
    assert not {k: v for k, v in missing.items() if v}, missing


def test_a_view_naming_something_the_context_lacks_is_caught(tmp_path: Path) -> None:
    class Wider(typing.Protocol):
        @property
        def hub(self) -> object: ...
        @property
        def jukebox(self) -> object: ...

    ctx = build_app_context(tmp_path)
    assert sorted(m for m in get_protocol_members(Wider) if not hasattr(ctx, m)) == ["jukebox"]
