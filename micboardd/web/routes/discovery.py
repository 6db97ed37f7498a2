"""`/api/discovery`: receivers discovery found (or rejected, with the reason), and the
crew's answer to each one waiting for approval (`discovery_approval`)."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.status_codes import HTTP_204_NO_CONTENT

from micboardd.errors import NotFound
from micboardd.web.answers import CHANGE, READ, answers
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected
from micboardd.web.routes.receivers import ReceiversContext, managed


class DiscoveryController(ApiController):
    path = "/api/discovery"

    @get(responses=answers(*READ))
    async def discovery(self, ctx: Injected[ReceiversContext]) -> list[dict[str, object]]:
        """Receivers discovery found (or rejected, with the reason); `waiting` for approval."""
        return ctx.receivers.discovered() if ctx.receivers else []

    @post(
        "/{receiver_id:str}/approve",
        status_code=200,
        responses=answers(*CHANGE, 404, 503),
    )
    async def approve_discovered(
        self, ctx: Injected[ReceiversContext], receiver_id: FromPath[str]
    ) -> dict[str, Any]:
        """Monitor a discovered receiver (`discovery_approval`); kept across restarts."""
        try:
            await managed(ctx.receivers).approve(receiver_id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None
        return ctx.hub.receivers[receiver_id].as_dict()

    @post(
        "/{receiver_id:str}/ignore",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404, 503),
    )
    async def ignore_discovered(
        self, ctx: Injected[ReceiversContext], receiver_id: FromPath[str]
    ) -> None:
        """Never monitor this discovered receiver (kept across restarts; add it to undo)."""
        try:
            await managed(ctx.receivers).ignore_discovered(receiver_id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None
