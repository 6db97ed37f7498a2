"""REST for what a tile shows besides a receiver's channel: placeholders and performer photos.

Writes are admin-only like every write (security.py's guard, which runs before any body is
read: a viewer's upload is refused with 401/403 whatever its size). A photo is the raw image
as the request body (`curl -T photo.jpg`), judged by its content; a refused one changes
nothing and gets 415 (not JPEG/PNG/WebP), 413 (too large) or 400 (damaged, absurd size).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_204_NO_CONTENT,
    HTTP_304_NOT_MODIFIED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
)

from micboardd.errors import BadUpload, NotFound
from micboardd.tiles.photo_check import PHOTO_MAX_BYTES
from micboardd.tiles.photos import Photos, describe
from micboardd.tiles.placeholders import (
    LABEL_MAX,
    MAX_PLACEHOLDERS,
    MODEL_MAX,
    NAME_MAX,
    PlaceholderFields,
    Placeholders,
    as_dict,
)
from micboardd.web.answers import CHANGE, NOT_MODIFIED, READ, answers
from micboardd.web.context import AppContext

# The browser may keep a photo whose URL names its version for good: a new photo is a new URL.
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
NO_COMPRESSION = "no_compression"  # handler opt read by app.py: images are compressed already
_STATUS = {
    "type": HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "size": HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "content": 400,
}


class PlaceholderBody(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(max_length=LABEL_MAX)] = ""
    name: Annotated[str, msgspec.Meta(max_length=NAME_MAX)] = ""
    model: Annotated[str, msgspec.Meta(max_length=MODEL_MAX)] = ""


def _fields(data: PlaceholderBody) -> PlaceholderFields:
    try:
        return PlaceholderFields.clean(data.label, data.name, data.model)
    except ValueError as exc:
        raise ClientException(str(exc)) from None


def _refused(exc: BadUpload) -> HTTPException:
    return HTTPException(detail=str(exc), status_code=_STATUS.get(exc.reason, 400))


def tiles_api_handlers(ctx: AppContext) -> list[HTTPRouteHandler]:
    def placeholders() -> Placeholders:
        assert ctx.placeholders is not None, "the daemon makes them before serving"
        return ctx.placeholders

    def photos() -> Photos:
        assert ctx.photos is not None, "the daemon makes them before serving"
        return ctx.photos

    @get("/api/placeholders", responses=answers(*READ))
    async def list_placeholders() -> list[dict[str, object]]:
        """Tiles with a name and no receiver (status `unmonitored`)."""
        return [as_dict(row) for row in placeholders().ordered()]

    @post("/api/placeholders", status_code=HTTP_201_CREATED, responses=answers(*CHANGE, 400))
    async def create_placeholder(data: JSONBody[PlaceholderBody]) -> dict[str, object]:
        """A new placeholder; place its `device_id` in groups like any device's."""
        if len(placeholders().by_id) >= MAX_PLACEHOLDERS:
            raise ClientException(f"at most {MAX_PLACEHOLDERS} placeholders")
        return as_dict(await placeholders().save(None, _fields(data)))

    @put("/api/placeholders/{placeholder_id:int}", responses=answers(*CHANGE, 400, 404))
    async def update_placeholder(
        placeholder_id: FromPath[int], data: JSONBody[PlaceholderBody]
    ) -> dict[str, object]:
        if placeholder_id not in placeholders().by_id:
            raise NotFoundException(f"no placeholder {placeholder_id}")
        return as_dict(await placeholders().save(placeholder_id, _fields(data)))

    @delete(
        "/api/placeholders/{placeholder_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404),
    )
    async def delete_placeholder(placeholder_id: FromPath[int]) -> None:
        """Removes it from the board, from every group, and its photo."""
        if not await placeholders().delete(placeholder_id):
            raise NotFoundException(f"no placeholder {placeholder_id}")

    @put(
        "/api/devices/{device_id:str}/photo",
        request_max_body_size=PHOTO_MAX_BYTES,
        opt={NO_COMPRESSION: True},
        responses=answers(*CHANGE, 400, 404, 415),
    )
    async def put_photo(
        request: Request[Any, Any, Any], device_id: FromPath[str]
    ) -> dict[str, object]:
        """The performer photo of this slot: a JPEG, PNG or WebP file as the raw body."""
        if not ctx.hub.knows_locally(device_id):
            raise NotFoundException(f"no device {device_id!r} on this box")
        try:
            data = await request.body()
        except HTTPException as exc:
            if exc.status_code != HTTP_413_REQUEST_ENTITY_TOO_LARGE:
                raise
            raise HTTPException(
                detail=f"the photo is larger than {PHOTO_MAX_BYTES // 1048576} MiB "
                "(save it smaller, e.g. 1200 px wide)",
                status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            ) from None
        try:
            row = await photos().save(device_id, data)
        except BadUpload as exc:
            raise _refused(exc) from None
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None
        return describe(row)

    @get(
        "/api/devices/{device_id:str}/photo",
        opt={NO_COMPRESSION: True},
        responses=answers(*READ, NOT_MODIFIED, 404),
    )
    async def get_photo(
        request: Request[Any, Any, Any], device_id: FromPath[str]
    ) -> Response[bytes]:
        found = await photos().get(device_id)
        if found is None:
            raise NotFoundException(f"no photo for {device_id!r}")
        row, data = found
        etag = f'"{row.etag}"'
        cache = IMMUTABLE if request.query_params.get("v") == row.etag else REVALIDATE
        headers = {"ETag": etag, "Cache-Control": cache}
        if etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(data, media_type=row.content_type, headers=headers)

    @delete(
        "/api/devices/{device_id:str}/photo",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(*CHANGE, 404),
    )
    async def delete_photo(device_id: FromPath[str]) -> None:
        if not await photos().delete(device_id):
            raise NotFoundException(f"no photo for {device_id!r}")

    return [
        list_placeholders,
        create_placeholder,
        update_placeholder,
        delete_placeholder,
        put_photo,
        get_photo,
        delete_photo,
    ]
