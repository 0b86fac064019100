"""The route class every Fynlo router uses: transaction, idempotency and the default rate limit.

Doing this around the route handler (rather than in a ``yield`` dependency) guarantees the
transaction is committed *before* the response is sent: a client never sees success for a
change that then failed to commit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from fynlo.db.engine import reset_write_intent, set_write_intent
from fynlo.kit import idempotency
from fynlo.kit.schemas import ERROR_RESPONSES
from fynlo.kit.unit_of_work import UnitOfWork
from fynlo.runtime import Runtime

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITES_FLAG = "x-fynlo-writes"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def refuse_nul(request: Request) -> None:
    """A query parameter or path holding U+0000 is a 422 naming it: PostgreSQL cannot
    compare text with it (the request would fail as a 500) and SQLite would accept it."""
    raw: bytes = request.scope.get("query_string", b"")
    if b"%00" in raw or b"\x00" in raw:
        for name, value in request.query_params.multi_items():
            if "\x00" in name or "\x00" in value:
                raise RequestValidationError([_nul_error(("query", name.replace("\x00", "")))])
    if "\x00" in request.scope.get("path", ""):
        raise RequestValidationError([_nul_error(("path",))])


def _nul_error(loc: tuple[str, ...]) -> dict[str, Any]:
    return {
        "loc": loc,
        "msg": "must not contain the NUL character (U+0000)",
        "type": "value_error",
    }


class FynloRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        is_idempotent = bool((self.openapi_extra or {}).get(idempotency.FLAG))
        # A read that may write (expire on read): on SQLite it must take the write lock
        # up front like any write.
        writes = bool((self.openapi_extra or {}).get(WRITES_FLAG))

        async def route_handler(request: Request) -> Response:
            refuse_nul(request)
            runtime: Runtime = request.app.state.runtime
            await runtime.rate_limiter.check(
                runtime.settings.rate_limit_default, "api", client_ip(request)
            )
            write_token = set_write_intent(writes or request.method not in SAFE_METHODS)
            uow = UnitOfWork(runtime.sessionmaker, runtime.events_committed)
            request.state.uow = uow
            try:
                key = request.headers.get(idempotency.HEADER) if is_idempotent else None
                if key is not None:
                    store = idempotency.IdempotencyStore(
                        runtime.sessionmaker,
                        ttl=timedelta(hours=runtime.settings.idempotency_ttl_hours),
                        lock_timeout=timedelta(seconds=runtime.settings.idempotency_lock_seconds),
                    )
                    caller = await runtime.resolve_caller(request)
                    return await store.run(request, uow, key, caller, handler)
                try:
                    response = await handler(request)
                except BaseException as exc:
                    await uow.fail(exc)
                    raise
                await uow.finish(response.status_code)
                return response
            finally:
                await uow.close()
                reset_write_intent(write_token)

        return route_handler


def router(prefix: str = "", tags: list[str] | None = None, **kwargs: Any) -> APIRouter:
    """An :class:`APIRouter` using :class:`FynloRoute` and documenting the error envelope."""
    return APIRouter(
        prefix=prefix,
        tags=list(tags or []),
        route_class=FynloRoute,
        responses=dict(ERROR_RESPONSES),
        **kwargs,
    )
