"""Which sources feed the hub for a given configuration."""

from __future__ import annotations

from .daemon import Source
from .receivers import ReceiverManager
from .web.context import AppContext


def make_sources(ctx: AppContext) -> list[Source]:
    manager = ReceiverManager(ctx.hub, ctx.store, ctx.settings)
    ctx.receivers = manager
    return [manager]
