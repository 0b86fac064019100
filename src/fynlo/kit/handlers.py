"""The one place that turns errors into the spec's envelope."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic.alias_generators import to_camel as _camel
from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from fynlo.db.base import Base
from fynlo.kit.errors import AlreadyExists, FynloError, ServiceUnavailable

log = structlog.get_logger("fynlo.request")

# Seconds a caller is told to wait when every database connection was busy.
POOL_BUSY_RETRY_AFTER = 1

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_response(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message, "details": details}
    request_id = request_id_of(request)
    if request_id:
        error["requestId"] = request_id
    return JSONResponse(
        {"success": False, "error": jsonable_encoder(error)},
        status_code=status_code,
        headers=headers,
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    details = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        field = _field_path(loc)
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            message = f"Unknown field '{loc[-1] if loc else field}' is not allowed"
        elif err.get("type") == "missing":
            message = "Field required"
        details.append(
            {
                "field": field,
                "location": str(loc[0]) if loc else "body",
                "message": message,
                "type": err.get("type"),
            }
        )
    return details


async def handle_fynlo_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FynloError)
    return error_response(
        request, exc.status_code, exc.code, exc.message, exc.details, exc.headers or None
    )


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(list(exc.errors()))
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return error_response(request, 422, "validation_error", f"Invalid request: {summary}", details)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").capitalize()
    if exc.status_code == 404 and message == "Not Found":
        message = f"No route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    return error_response(request, exc.status_code, code, message, None, exc.headers)


_PG_UNIQUE = re.compile(r'unique constraint "(?P<name>[a-z0-9_]+)"')
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>[\w., ]+)")


def _constraint_columns(name: str) -> list[str] | None:
    """Columns of a unique constraint or index, by its name in the models' metadata."""
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and constraint.name == name:
                return [column.name for column in constraint.columns]
        for index in table.indexes:
            if index.unique and index.name == name:
                return [column.name for column in index.columns]
    return None


def _unique_fields(message: str) -> list[str] | None:
    columns: list[str] | None = None
    if match := _PG_UNIQUE.search(message):
        columns = _constraint_columns(match["name"])
    elif match := _SQLITE_UNIQUE.search(message):
        columns = [part.strip().split(".")[-1] for part in match["cols"].split(",")]
    if not columns:
        return None
    # The tenant column is the scope, not something the caller chose.
    return [c for c in columns if c != "restaurant_id"] or columns


async def handle_integrity_error(request: Request, exc: Exception) -> JSONResponse:
    """A constraint the service did not foresee (a race, a row it cannot see): 409, not 500."""
    assert isinstance(exc, IntegrityError)
    fields = _unique_fields(str(exc.orig))
    if fields is not None:
        names = [_camel(f) for f in fields]
        error: FynloError = AlreadyExists(
            f"A record with this {', '.join(names)} already exists", names
        )
        return await handle_fynlo_error(request, error)
    return error_response(request, 409, "conflict", "The change conflicts with existing data", None)


async def handle_pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    """Every database connection stayed busy for the pool timeout: the server is overloaded,
    not broken. An error answer rolls the request's transaction back, so nothing of it was
    saved and the caller can retry it as it is; a 503 with ``Retry-After`` says so, where a
    500 would not."""
    assert isinstance(exc, PoolTimeout)
    log.warning("database_pool_exhausted", method=request.method, path=request.url.path)
    error = ServiceUnavailable(
        f"Every database connection is busy; nothing was saved, retry in {POOL_BUSY_RETRY_AFTER} s",
        details={"retryAfter": POOL_BUSY_RETRY_AFTER},
        headers={"Retry-After": str(POOL_BUSY_RETRY_AFTER)},
    )
    return await handle_fynlo_error(request, error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(IntegrityError, handle_integrity_error)
    app.add_exception_handler(PoolTimeout, handle_pool_timeout)
    app.add_exception_handler(FynloError, handle_fynlo_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
