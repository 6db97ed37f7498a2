"""The status codes a route may answer besides success, as the OpenAPI document lists them.

Every error is Litestar's `{"status_code", "detail"}` body with a sentence saying what was
wrong. Routes list the codes they really give (schemathesis checks the document against the
answers): `READ` for every read under /api/, `CHANGE` for every route that changes state (the
guard of web/security.py), plus their own.
"""

from __future__ import annotations

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec


class Problem(msgspec.Struct):
    status_code: int
    detail: str


class UnprocessableException(HTTPException):
    status_code = 422


class ConflictException(HTTPException):
    status_code = 409


DESCRIPTIONS: dict[int, str] = {
    400: "the request or its body is not valid; the detail names what",
    401: "no session: log in (as admin to change anything, or with the viewer PIN to look)",
    403: "not allowed: a viewer session, a missing or wrong CSRF token, another site's page, "
    "or no admin password set yet",
    404: "no such device, receiver, group or alert",
    409: "set elsewhere: by the configuration, which wins over the dashboard, or (a "
    "placeholder's name) by its own route",
    413: "the body is larger than the limit",
    415: "not a file of a kind this route takes (judged by its content)",
    422: "understood, but refused by the receiver or not usable; the detail says why",
    429: "too many attempts from this address: wait for Retry-After",
    503: "not available now (receiver offline, engine not running, too many logins at once): "
    "try again later",
}

READ = (401,)  # with a viewer PIN set, reads need a session
CHANGE = (401, 403, 413)


NOT_MODIFIED = 304  # a conditional GET whose ETag still matches: no body


def answers(*codes: int) -> dict[int, ResponseSpec]:
    """`responses=` for a route handler: these codes, described once for the whole API."""
    return {
        code: (
            ResponseSpec(data_container=None, description="not modified since the ETag given")
            if code == NOT_MODIFIED
            else ResponseSpec(
                data_container=Problem, generate_examples=False, description=DESCRIPTIONS[code]
            )
        )
        for code in sorted(set(codes))
    }
