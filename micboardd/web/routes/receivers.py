"""`/api/receivers`: the receivers monitored directly, and `/api/connections`: every source's
connection state. Adding, changing and removing answer 503 until the daemon has plugged in
its receiver manager (`daemon/wiring.py`, right after the server starts)."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import msgspec
from litestar import delete, get, post, put
from litestar.exceptions import ClientException, NotFoundException, ServiceUnavailableException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from micboardd.config import MAX_METER_RATE_MS, MIN_METER_RATE_MS, parse_receiver
from micboardd.errors import NotFound
from micboardd.state.hub import Hub
from micboardd.web.answers import CHANGE, READ, answers
from micboardd.web.ports import ReceiverControl
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected


class AddReceiver(msgspec.Struct, forbid_unknown_fields=True):
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class ReceiverBody(msgspec.Struct, forbid_unknown_fields=True):
    # null: follow the global meter_rate_ms again
    meter_rate_ms: Annotated[int, msgspec.Meta(ge=MIN_METER_RATE_MS, le=MAX_METER_RATE_MS)] | None


class ReceiversContext(Protocol):
    @property
    def hub(self) -> Hub: ...
    @property
    def receivers(self) -> ReceiverControl | None: ...


def managed(receivers: ReceiverControl | None) -> ReceiverControl:
    """The receiver manager, or 503 while there is none."""
    if receivers is None:
        raise ServiceUnavailableException("receivers are not managed by this instance yet")
    return receivers


class ReceiversController(ApiController):
    path = "/api/receivers"

    @get(responses=answers(*READ))
    async def receivers(self, ctx: Injected[ReceiversContext]) -> list[dict[str, Any]]:
        return ctx.hub.receiver_list()

    @post(status_code=HTTP_201_CREATED, responses=answers(*CHANGE, 503))
    async def add_receiver(
        self, ctx: Injected[ReceiversContext], data: JSONBody[AddReceiver]
    ) -> dict[str, Any]:
        """Monitor a receiver by address (`HOST` or `HOST:PORT`); kept across restarts."""
        try:
            address = parse_receiver(data.address)
        except ValueError as exc:
            raise ClientException(f"address {data.address!r}: {exc}") from None
        receiver_id = await managed(ctx.receivers).add(address)
        return ctx.hub.receivers[receiver_id].as_dict()

    @put("/{receiver_id:str}", responses=answers(*CHANGE, 404, 503))
    async def update_receiver(
        self,
        ctx: Injected[ReceiversContext],
        receiver_id: FromPath[str],
        data: JSONBody[ReceiverBody],
    ) -> dict[str, Any]:
        """This receiver's own metering interval (`null`: the global one)."""
        control = managed(ctx.receivers)
        try:
            await control.set_receiver_meter_rate(receiver_id, data.meter_rate_ms)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None
        return {
            **ctx.hub.receivers[receiver_id].as_dict(),
            "meter_rate_ms": control.meter_rate_for(receiver_id),
        }

    @delete(
        "/{receiver_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404, 503),
    )
    async def remove_receiver(
        self, ctx: Injected[ReceiversContext], receiver_id: FromPath[str]
    ) -> None:
        try:
            await managed(ctx.receivers).remove(receiver_id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None


class ConnectionsController(ApiController):
    path = "/api/connections"

    @get(responses=answers(*READ))
    async def connections(self, ctx: Injected[ReceiversContext]) -> list[dict[str, Any]]:
        return ctx.hub.connections()
