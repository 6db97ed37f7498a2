"""`/api/devices`: the channels the hub knows, and the commands sent to their receivers.

A command sent to a receiver answers 404 for an unknown device, 422 when the receiver
refused it and 503 when the receiver is offline. The performer is ours (kept in the store,
not on the receiver).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any, Protocol

import msgspec
from litestar import get, post, put
from litestar.exceptions import HTTPException, NotFoundException, ServiceUnavailableException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_409_CONFLICT

from micboardd.errors import CommandRejected, ConnectionFailed, NotFound
from micboardd.model import split_device_id
from micboardd.state.hub import Hub
from micboardd.tiles.placeholders import placeholder_id_of
from micboardd.web.answers import CHANGE, READ, UnprocessableException, answers
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected

# User-facing names (performer) are free text, but bounded: they must fit a tile.
PERFORMER_MAX = 64


class RenameChannel(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=64)]


class SetPerformer(msgspec.Struct, forbid_unknown_fields=True):
    performer: Annotated[str, msgspec.Meta(max_length=PERFORMER_MAX)] | None


class PerformerStore(Protocol):
    async def set_performer(
        self, device_id: str, receiver_id: str, channel: int, performer: str | None
    ) -> None: ...


class DevicesContext(Protocol):
    @property
    def hub(self) -> Hub: ...
    @property
    def store(self) -> PerformerStore: ...


@contextlib.contextmanager
def receiver_command() -> Iterator[None]:
    """A command sent to a receiver: unknown device 404, refused 422, receiver offline 503."""
    try:
        yield
    except NotFound as exc:
        raise NotFoundException(str(exc)) from None
    except CommandRejected as exc:
        raise UnprocessableException(str(exc)) from None
    except ConnectionFailed as exc:
        raise ServiceUnavailableException(str(exc)) from None


class DevicesController(ApiController):
    path = "/api/devices"

    @get(responses=answers(*READ))
    async def devices(self, ctx: Injected[DevicesContext]) -> list[dict[str, Any]]:
        return [msgspec.structs.asdict(dev) for dev in ctx.hub.device_list()]

    @get("/{device_id:str}", responses=answers(*READ, 404))
    async def device(
        self, ctx: Injected[DevicesContext], device_id: FromPath[str]
    ) -> dict[str, Any]:
        dev = ctx.hub.devices.get(device_id)
        if dev is None:
            raise NotFoundException(f"no device {device_id!r}")
        return msgspec.structs.asdict(dev)

    @post(
        "/{device_id:str}/rename",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404, 422, 503),
    )
    async def rename(
        self,
        ctx: Injected[DevicesContext],
        device_id: FromPath[str],
        data: JSONBody[RenameChannel],
    ) -> None:
        """Rename the channel on the receiver itself (SET CHAN_NAME)."""
        with receiver_command():
            await ctx.hub.rename(device_id, data.name)

    @post(
        "/{device_id:str}/identify",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404, 422, 503),
    )
    async def identify(self, ctx: Injected[DevicesContext], device_id: FromPath[str]) -> None:
        """Flash the receiver's front panel for this channel."""
        with receiver_command():
            await ctx.hub.identify(device_id)

    @put("/{device_id:str}/performer", responses=answers(*CHANGE, 404, 409))
    async def performer(
        self,
        ctx: Injected[DevicesContext],
        device_id: FromPath[str],
        data: JSONBody[SetPerformer],
    ) -> dict[str, Any]:
        """Who wears this microphone tonight (kept in the store, not on the receiver)."""
        try:
            receiver_id, channel = split_device_id(device_id)
        except ValueError:
            raise NotFoundException(f"no device {device_id!r}") from None
        placeholder = placeholder_id_of(device_id)
        if placeholder is not None:
            raise HTTPException(
                status_code=HTTP_409_CONFLICT,
                detail=f"{device_id} is a placeholder: its name is set with "
                f"PUT /api/placeholders/{placeholder}",
            )
        name = (data.performer or "").strip() or None
        await ctx.store.set_performer(device_id, receiver_id, channel, name)
        hub = ctx.hub
        group = hub.user[device_id].group if device_id in hub.user else None
        hub.set_user(device_id, performer=name, group=group)
        return {"device_id": device_id, "performer": name}
