"""`/api/groups`: named, ordered sets of tiles (device ids; null is a blank slot)."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import msgspec
from litestar import delete, get, post, put
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from micboardd.state.groups import MAX_GROUPS, MAX_SLOTS, MAX_TITLE, Groups
from micboardd.web.answers import CHANGE, READ, answers
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected

MAX_GROUP_ID = 10_000  # ids a client may choose (PUT); far more than MAX_GROUPS


class GroupBody(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)]
    slots: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=300)] | None],
        msgspec.Meta(max_length=MAX_SLOTS),
    ] = []
    position: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None


class GroupsContext(Protocol):
    @property
    def groups(self) -> Groups: ...


class GroupsController(ApiController):
    path = "/api/groups"

    @get(responses=answers(*READ))
    async def list_groups(self, ctx: Injected[GroupsContext]) -> list[dict[str, Any]]:
        return [g.as_dict() for g in ctx.groups.ordered()]

    @post(status_code=HTTP_201_CREATED, responses=answers(*CHANGE))
    async def create_group(
        self, ctx: Injected[GroupsContext], data: JSONBody[GroupBody]
    ) -> dict[str, Any]:
        groups = ctx.groups
        if len(groups.by_id) >= MAX_GROUPS:
            raise ClientException(f"at most {MAX_GROUPS} groups")
        group = await groups.save(None, data.title.strip(), data.slots, data.position)
        return group.as_dict()

    @put("/{group_id:int}", responses=answers(*CHANGE, 404))
    async def put_group(
        self, ctx: Injected[GroupsContext], group_id: FromPath[int], data: JSONBody[GroupBody]
    ) -> dict[str, Any]:
        """Create or replace a group: title, ordered slots (device ids, null = blank)."""
        groups = ctx.groups
        if group_id < 1 or group_id > MAX_GROUP_ID:
            raise ClientException(f"group id must be 1..{MAX_GROUP_ID}")
        if group_id not in groups.by_id and len(groups.by_id) >= MAX_GROUPS:
            raise ClientException(f"at most {MAX_GROUPS} groups")
        group = await groups.save(group_id, data.title.strip(), data.slots, data.position)
        return group.as_dict()

    @delete(
        "/{group_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404),
    )
    async def delete_group(self, ctx: Injected[GroupsContext], group_id: FromPath[int]) -> None:
        if not await ctx.groups.delete(group_id):
            raise NotFoundException(f"no group {group_id}")
