"""REST API: read views of the hub, health, and the commands that change things.

Bodies are msgspec models with size limits; every failure is a 4xx with a sentence saying
what was wrong (Litestar's validation errors for shape, ours for meaning).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotFoundException,
    ServiceUnavailableException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT, HTTP_409_CONFLICT

from micboardd import __version__
from micboardd.aio import loop_implementation
from micboardd.config import MAX_METER_RATE_MS, MIN_METER_RATE_MS, parse_receiver
from micboardd.errors import CommandRejected, ConnectionFailed, NotFound
from micboardd.feed.fanout import API_HEALTH_KEY
from micboardd.model import split_device_id
from micboardd.state.groups import MAX_GROUPS, MAX_SLOTS, MAX_TITLE
from micboardd.tiles.placeholders import placeholder_id_of
from micboardd.web.answers import CHANGE, READ, answers
from micboardd.web.context import AppContext
from micboardd.web.security import can_view, redact_api_frame, redact_health, session_of

# User-facing names (performer) are free text, but bounded: they must fit a tile.
PERFORMER_MAX = 64


class AddReceiver(msgspec.Struct, forbid_unknown_fields=True):
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class RenameChannel(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=64)]


class SetPerformer(msgspec.Struct, forbid_unknown_fields=True):
    performer: Annotated[str, msgspec.Meta(max_length=PERFORMER_MAX)] | None


class GroupBody(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)]
    slots: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=300)] | None],
        msgspec.Meta(max_length=MAX_SLOTS),
    ] = []
    position: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None


class SettingsBody(msgspec.Struct, forbid_unknown_fields=True):
    meter_rate_ms: (
        Annotated[int, msgspec.Meta(ge=MIN_METER_RATE_MS, le=MAX_METER_RATE_MS)] | None
    ) = None


class ReceiverBody(msgspec.Struct, forbid_unknown_fields=True):
    # null: follow the global meter_rate_ms again
    meter_rate_ms: Annotated[int, msgspec.Meta(ge=MIN_METER_RATE_MS, le=MAX_METER_RATE_MS)] | None


class UnprocessableException(HTTPException):
    status_code = 422


@contextlib.contextmanager
def _receiver_command() -> Iterator[None]:
    """A command sent to a receiver: unknown device 404, refused 422, receiver offline 503."""
    try:
        yield
    except NotFound as exc:
        raise NotFoundException(str(exc)) from None
    except CommandRejected as exc:
        raise UnprocessableException(str(exc)) from None
    except ConnectionFailed as exc:
        raise ServiceUnavailableException(str(exc)) from None


def api_handlers(ctx: AppContext) -> list[HTTPRouteHandler]:
    hub = ctx.hub

    def receivers_control() -> Any:
        if ctx.receivers is None:
            raise ServiceUnavailableException("receivers are not managed by this instance yet")
        return ctx.receivers

    @get("/api/health")
    async def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
        ctx.db_ok = await ctx.store.ping()
        dashboard_ok = ctx.web_root is not None
        body: dict[str, Any] = {
            "status": "ok" if ctx.db_ok and dashboard_ok else "degraded",
            "version": __version__,
            "uptime_s": ctx.uptime_s(),
            "db_ok": ctx.db_ok,
            # False: the package carries no dashboard files (the daemon's log says where it
            # looked); the API works, / answers 503.
            "dashboard_ok": dashboard_ok,
            "sources": {
                "receivers": len(hub.receivers),
                "receivers_online": hub.online_count(),
                "by_state": _count_states(ctx),
            },
            "devices": len(hub.devices),
            "discovery": ctx.discovery.health() if ctx.discovery is not None else None,
            "clients": {
                "devices": len(ctx.fanout.devices),
                "connections": len(ctx.fanout.connections),
                "health": len(ctx.fanout.health),
            },
            "ws": {
                "frames_sent": ctx.counters.ws_frames_sent,
                "bytes_sent": ctx.counters.ws_bytes_sent,
                "client_errors": ctx.counters.ws_client_errors,
                "frames_waited": ctx.counters.ws_frames_waited,
            },
            # Bugs caught on the event loop (loop_errors.py): 0 on a healthy daemon.
            "event_loop": {
                "implementation": loop_implementation(),
                "exceptions": sum(ctx.counters.loop_exceptions.values()),
                "exceptions_by_kind": dict(sorted(ctx.counters.loop_exceptions.items())),
            },
            # The Shure System API's health, as on /ws/health/ (never its key).
            "system_api": list(ctx.fanout.latest_api_health.values()),
        }
        # Open to monitoring even behind the viewer PIN: then without receiver addresses.
        # The System API's URL only for a session (the settings naming it are admin-only).
        if session_of(request) is None:
            body["system_api"] = [
                redact_api_frame(API_HEALTH_KEY + str(h.get("endpoint")), h)
                for h in body["system_api"]
            ]
        pin = ctx.auth is not None and (await ctx.auth.credentials()).pin_required
        if can_view(request, pin):
            return body
        slim = redact_health(body)
        slim["system_api"] = [
            {k: h.get(k) for k in ("status", "state", "error_count")} for h in body["system_api"]
        ]
        return slim

    @get("/api/devices", responses=answers(*READ))
    async def devices() -> list[dict[str, Any]]:
        return [msgspec.structs.asdict(dev) for dev in hub.device_list()]

    @get("/api/devices/{device_id:str}", responses=answers(*READ, 404))
    async def device(device_id: FromPath[str]) -> dict[str, Any]:
        dev = hub.devices.get(device_id)
        if dev is None:
            raise NotFoundException(f"no device {device_id!r}")
        return msgspec.structs.asdict(dev)

    @post(
        "/api/devices/{device_id:str}/rename",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404, 422, 503),
    )
    async def rename(device_id: FromPath[str], data: JSONBody[RenameChannel]) -> None:
        """Rename the channel on the receiver itself (SET CHAN_NAME)."""
        with _receiver_command():
            await hub.rename(device_id, data.name)

    @post(
        "/api/devices/{device_id:str}/identify",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404, 422, 503),
    )
    async def identify(device_id: FromPath[str]) -> None:
        """Flash the receiver's front panel for this channel."""
        with _receiver_command():
            await hub.identify(device_id)

    @put("/api/devices/{device_id:str}/performer", responses=answers(*CHANGE, 404, 409))
    async def performer(device_id: FromPath[str], data: JSONBody[SetPerformer]) -> dict[str, Any]:
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
        group = hub.user[device_id].group if device_id in hub.user else None
        hub.set_user(device_id, performer=name, group=group)
        return {"device_id": device_id, "performer": name}

    @get("/api/receivers", responses=answers(*READ))
    async def receivers() -> list[dict[str, Any]]:
        return hub.receiver_list()

    @post("/api/receivers", status_code=HTTP_201_CREATED, responses=answers(*CHANGE, 503))
    async def add_receiver(data: JSONBody[AddReceiver]) -> dict[str, Any]:
        """Monitor a receiver by address (`HOST` or `HOST:PORT`); kept across restarts."""
        try:
            address = parse_receiver(data.address)
        except ValueError as exc:
            raise ClientException(f"address {data.address!r}: {exc}") from None
        receiver_id = await receivers_control().add(address)
        return hub.receivers[receiver_id].as_dict()

    @put("/api/receivers/{receiver_id:str}", responses=answers(*CHANGE, 404, 503))
    async def update_receiver(
        receiver_id: FromPath[str], data: JSONBody[ReceiverBody]
    ) -> dict[str, Any]:
        """This receiver's own metering interval (`null`: the global one)."""
        control = receivers_control()
        try:
            await control.set_receiver_meter_rate(receiver_id, data.meter_rate_ms)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None
        return {
            **hub.receivers[receiver_id].as_dict(),
            "meter_rate_ms": control.meter_rate_for(receiver_id),
        }

    @delete(
        "/api/receivers/{receiver_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404, 503),
    )
    async def remove_receiver(receiver_id: FromPath[str]) -> None:
        try:
            await receivers_control().remove(receiver_id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None

    @get("/api/groups", responses=answers(*READ))
    async def list_groups() -> list[dict[str, Any]]:
        return [g.as_dict() for g in ctx.groups.ordered()]

    @post("/api/groups", status_code=HTTP_201_CREATED, responses=answers(*CHANGE))
    async def create_group(data: JSONBody[GroupBody]) -> dict[str, Any]:
        if len(ctx.groups.by_id) >= MAX_GROUPS:
            raise ClientException(f"at most {MAX_GROUPS} groups")
        group = await ctx.groups.save(None, data.title.strip(), data.slots, data.position)
        return group.as_dict()

    @put("/api/groups/{group_id:int}", responses=answers(*CHANGE, 404))
    async def put_group(group_id: FromPath[int], data: JSONBody[GroupBody]) -> dict[str, Any]:
        """Create or replace a group: title, ordered slots (device ids, null = blank)."""
        if group_id < 1 or group_id > 10_000:
            raise ClientException("group id must be 1..10000")
        if group_id not in ctx.groups.by_id and len(ctx.groups.by_id) >= MAX_GROUPS:
            raise ClientException(f"at most {MAX_GROUPS} groups")
        group = await ctx.groups.save(group_id, data.title.strip(), data.slots, data.position)
        return group.as_dict()

    @delete(
        "/api/groups/{group_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404),
    )
    async def delete_group(group_id: FromPath[int]) -> None:
        if not await ctx.groups.delete(group_id):
            raise NotFoundException(f"no group {group_id}")

    def settings_view() -> dict[str, Any]:
        rate = ctx.receivers.meter_rate_ms if ctx.receivers else ctx.settings.meter_rate_ms
        return {"meter_rate_ms": rate, "min_meter_rate_ms": MIN_METER_RATE_MS}

    @get("/api/settings", responses=answers(*READ))
    async def get_settings() -> dict[str, Any]:
        """Settings the dashboard may change (the rest live in the TOML file)."""
        return settings_view()

    @put("/api/settings", responses=answers(*CHANGE, 503))
    async def put_settings(data: JSONBody[SettingsBody]) -> dict[str, Any]:
        if data.meter_rate_ms is not None:
            await receivers_control().set_meter_rate(data.meter_rate_ms)
        return settings_view()

    @get("/api/discovery", responses=answers(*READ))
    async def discovery() -> list[dict[str, object]]:
        """Receivers discovery found (or rejected, with the reason); `waiting` for approval."""
        return ctx.receivers.discovered() if ctx.receivers else []

    @post(
        "/api/discovery/{receiver_id:str}/approve",
        status_code=200,
        responses=answers(*CHANGE, 404, 503),
    )
    async def approve_discovered(receiver_id: FromPath[str]) -> dict[str, Any]:
        """Monitor a discovered receiver (`discovery_approval`); kept across restarts."""
        try:
            await receivers_control().approve(receiver_id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None
        return hub.receivers[receiver_id].as_dict()

    @post(
        "/api/discovery/{receiver_id:str}/ignore",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404, 503),
    )
    async def ignore_discovered(receiver_id: FromPath[str]) -> None:
        """Never monitor this discovered receiver (kept across restarts; add it to undo)."""
        try:
            await receivers_control().ignore_discovered(receiver_id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None

    @get("/api/connections", responses=answers(*READ))
    async def connections() -> list[dict[str, Any]]:
        return hub.connections()

    @get("/healthz", include_in_schema=False)
    async def healthz() -> Response[str]:
        return Response("ok", media_type="text/plain")

    return [
        health,
        devices,
        device,
        rename,
        identify,
        performer,
        receivers,
        add_receiver,
        update_receiver,
        remove_receiver,
        list_groups,
        create_group,
        put_group,
        delete_group,
        get_settings,
        put_settings,
        discovery,
        approve_discovered,
        ignore_discovered,
        connections,
        healthz,
    ]


def _count_states(ctx: AppContext) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rx in ctx.hub.receivers.values():
        counts[rx.state.value] = counts.get(rx.state.value, 0) + 1
    return counts
