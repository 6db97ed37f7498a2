"""How a controller receives what it works on: Litestar's dependency injection, by name.

A handler asks for `ctx: Injected[SomeView]`, where `SomeView` is a protocol of what that
controller reads; the app provides one object under `CONTEXT` (the `AppContext`). One
dependency per handler on purpose: Litestar resolves two dependencies of the same level in
a task group, several times the cost of the handler itself.
"""

from __future__ import annotations

from typing import TypeAlias, TypeVar

from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

T = TypeVar("T")

# Validation skipped: the value is ours (a protocol is not something msgspec can check).
Injected: TypeAlias = NamedDependency[SkipValidation[T]]

CONTEXT = "ctx"  # the parameter name every handler uses for the context
SESSIONS = "sessions"  # the login routes' own desk (routes/session.py)


def provide(value: object) -> Provide:
    """A dependency that is always this object. Handlers read its fields when they run, so
    parts the daemon plugs in after the app is made (receivers, System API) are seen."""
    return Provide(lambda: value, sync_to_thread=False)


def context(ctx: object) -> dict[str, Provide]:
    """`dependencies=` for an app (or a test's app) whose controllers read `ctx`."""
    return {CONTEXT: provide(ctx)}
