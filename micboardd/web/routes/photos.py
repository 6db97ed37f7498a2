"""`/api/devices/{device_id}/photo`: the performer photo of a tile.

A photo is the raw image as the request body (`curl -T photo.jpg`), judged by its content;
a refused one changes nothing and gets 415 (not JPEG/PNG/WebP), 413 (too large) or 400
(damaged, absurd size). The guard (security.py) runs before any body is read: a viewer's
upload is refused with 401/403 whatever its size.
"""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Request, Response, delete, get, put
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath
from litestar.status_codes import (
    HTTP_204_NO_CONTENT,
    HTTP_304_NOT_MODIFIED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
)

from micboardd.errors import BadUpload, NotFound
from micboardd.state.hub import Hub
from micboardd.tiles.photo_check import PHOTO_MAX_BYTES
from micboardd.tiles.photos import Photos, describe
from micboardd.web.answers import CHANGE, NOT_MODIFIED, READ, answers
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected

# The browser may keep a photo whose URL names its version for good: a new photo is a new URL.
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
NO_COMPRESSION = "no_compression"  # handler opt read by app.py: images are compressed already
_STATUS = {
    "type": HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "size": HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "content": 400,
}


class PhotosContext(Protocol):
    @property
    def hub(self) -> Hub: ...
    @property
    def photos(self) -> Photos | None: ...


def photos_of(ctx: PhotosContext) -> Photos:
    assert ctx.photos is not None, "the daemon makes them before serving"
    return ctx.photos


def _refused(exc: BadUpload) -> HTTPException:
    return HTTPException(detail=str(exc), status_code=_STATUS.get(exc.reason, 400))


async def _photo_body(request: Request[Any, Any, Any]) -> bytes:
    """The raw body; a 413 that says how large a photo may be."""
    try:
        return await request.body()
    except HTTPException as exc:
        if exc.status_code != HTTP_413_REQUEST_ENTITY_TOO_LARGE:
            raise
        raise HTTPException(
            detail=f"the photo is larger than {PHOTO_MAX_BYTES // 1048576} MiB "
            "(save it smaller, e.g. 1200 px wide)",
            status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        ) from None


class PhotosController(ApiController):
    path = "/api/devices/{device_id:str}/photo"

    @put(
        request_max_body_size=PHOTO_MAX_BYTES,
        opt={NO_COMPRESSION: True},
        responses=answers(*CHANGE, 400, 404, 415),
    )
    async def put_photo(
        self,
        request: Request[Any, Any, Any],
        ctx: Injected[PhotosContext],
        device_id: FromPath[str],
    ) -> dict[str, object]:
        """The performer photo of this slot: a JPEG, PNG or WebP file as the raw body."""
        if not ctx.hub.knows_locally(device_id):
            raise NotFoundException(f"no device {device_id!r} on this box")
        data = await _photo_body(request)
        try:
            row = await photos_of(ctx).save(device_id, data)
        except BadUpload as exc:
            raise _refused(exc) from None
        except NotFound as exc:
            raise NotFoundException(str(exc)) from None
        return describe(row)

    @get(opt={NO_COMPRESSION: True}, responses=answers(*READ, NOT_MODIFIED, 404))
    async def get_photo(
        self,
        request: Request[Any, Any, Any],
        ctx: Injected[PhotosContext],
        device_id: FromPath[str],
    ) -> Response[bytes]:
        found = await photos_of(ctx).get(device_id)
        if found is None:
            raise NotFoundException(f"no photo for {device_id!r}")
        row, data = found
        etag = f'"{row.etag}"'
        cache = IMMUTABLE if request.query_params.get("v") == row.etag else REVALIDATE
        headers = {"ETag": etag, "Cache-Control": cache}
        if etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(data, media_type=row.content_type, headers=headers)

    @delete(status_code=HTTP_204_NO_CONTENT, responses=answers(*CHANGE, 404))
    async def delete_photo(self, ctx: Injected[PhotosContext], device_id: FromPath[str]) -> None:
        if not await photos_of(ctx).delete(device_id):
            raise NotFoundException(f"no photo for {device_id!r}")
