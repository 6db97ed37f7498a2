"""`/api/placeholders`: tiles with a name and no receiver (status `unmonitored`).

Writes are admin-only like every write (security.py's guard). A placeholder's `device_id`
is placed in groups like any device's.
"""

from __future__ import annotations

from typing import Annotated, Protocol

import msgspec
from litestar import delete, get, post, put
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from micboardd.tiles.placeholders import (
    LABEL_MAX,
    MAX_PLACEHOLDERS,
    MODEL_MAX,
    NAME_MAX,
    PlaceholderFields,
    Placeholders,
    as_dict,
)
from micboardd.web.answers import CHANGE, READ, answers
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected


class PlaceholderBody(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(max_length=LABEL_MAX)] = ""
    name: Annotated[str, msgspec.Meta(max_length=NAME_MAX)] = ""
    model: Annotated[str, msgspec.Meta(max_length=MODEL_MAX)] = ""


class PlaceholdersContext(Protocol):
    @property
    def placeholders(self) -> Placeholders | None: ...


def _fields(data: PlaceholderBody) -> PlaceholderFields:
    try:
        return PlaceholderFields.clean(data.label, data.name, data.model)
    except ValueError as exc:
        raise ClientException(str(exc)) from None


def placeholders_of(ctx: PlaceholdersContext) -> Placeholders:
    assert ctx.placeholders is not None, "the daemon makes them before serving"
    return ctx.placeholders


class PlaceholdersController(ApiController):
    path = "/api/placeholders"

    @get(responses=answers(*READ))
    async def list_placeholders(
        self, ctx: Injected[PlaceholdersContext]
    ) -> list[dict[str, object]]:
        """Tiles with a name and no receiver (status `unmonitored`)."""
        return [as_dict(row) for row in placeholders_of(ctx).ordered()]

    @post(status_code=HTTP_201_CREATED, responses=answers(*CHANGE, 400))
    async def create_placeholder(
        self, ctx: Injected[PlaceholdersContext], data: JSONBody[PlaceholderBody]
    ) -> dict[str, object]:
        """A new placeholder; place its `device_id` in groups like any device's."""
        placeholders = placeholders_of(ctx)
        if len(placeholders.by_id) >= MAX_PLACEHOLDERS:
            raise ClientException(f"at most {MAX_PLACEHOLDERS} placeholders")
        return as_dict(await placeholders.save(None, _fields(data)))

    @put("/{placeholder_id:int}", responses=answers(*CHANGE, 400, 404))
    async def update_placeholder(
        self,
        ctx: Injected[PlaceholdersContext],
        placeholder_id: FromPath[int],
        data: JSONBody[PlaceholderBody],
    ) -> dict[str, object]:
        placeholders = placeholders_of(ctx)
        if placeholder_id not in placeholders.by_id:
            raise NotFoundException(f"no placeholder {placeholder_id}")
        return as_dict(await placeholders.save(placeholder_id, _fields(data)))

    @delete(
        "/{placeholder_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404),
    )
    async def delete_placeholder(
        self, ctx: Injected[PlaceholdersContext], placeholder_id: FromPath[int]
    ) -> None:
        """Removes it from the board, from every group, and its photo."""
        if not await placeholders_of(ctx).delete(placeholder_id):
            raise NotFoundException(f"no placeholder {placeholder_id}")
