"""``Idempotency-Key`` for write endpoints: a retried request returns the first response.

The key is scoped to the caller. The first request claims the key in its own short
transaction; its response is stored in the same transaction as its effect, so either
both are committed or neither. A second request with the same key and the same body
gets the stored response; with another body, a 409. While the first is still running a
concurrent duplicate gets a 409 ``idempotency_key_in_progress`` (with ``Retry-After``),
so the effect happens once. A failed request releases its key so a retry runs again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from fynlo.db.types import utc_now
from fynlo.db.upsert import conflict_insert_for
from fynlo.kit.errors import BadRequest, IdempotencyKeyInProgress, IdempotencyKeyReused
from fynlo.kit.unit_of_work import UnitOfWork
from fynlo.models.idempotency import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
FLAG = "x-fynlo-idempotent"
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")

Handler = Callable[[Request], Awaitable[Response]]


def idempotent(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a route that honours ``Idempotency-Key`` (documents the header)."""
    return {
        **(extra or {}),
        FLAG: True,
        "parameters": [
            {
                "name": HEADER,
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "Client-generated unique key (a UUID). A retry with the same key "
                "and body returns the first response; another body with the same key is a 409.",
            }
        ],
    }


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", canonical):
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Replay:
    status: int
    body: str
    headers: dict[str, Any]


class IdempotencyStore:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        ttl: timedelta,
        lock_timeout: timedelta,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._ttl = ttl
        self._lock_timeout = lock_timeout

    async def run(
        self, request: Request, uow: UnitOfWork, key: str, caller: str, handler: Handler
    ) -> Response:
        if not _KEY_PATTERN.match(key):
            raise BadRequest(
                f"{HEADER} must be 1-255 printable ASCII characters without spaces",
                details={"header": HEADER},
            )
        body = await request.body()
        print_ = fingerprint(request.method, request.url.path, body)
        replay = await self._claim(caller, key, print_)
        if replay is not None:
            return Response(
                content=replay.body,
                status_code=replay.status,
                media_type=replay.headers.get("content-type"),
                headers={REPLAYED_HEADER: "true"},
            )
        try:
            response = await handler(request)
            if 200 <= response.status_code < 300 and isinstance(response.body, bytes):
                await uow.session.execute(
                    update(IdempotencyKey)
                    .where(IdempotencyKey.caller == caller, IdempotencyKey.key == key)
                    .values(
                        status="completed",
                        response_status=response.status_code,
                        response_body=response.body.decode(),
                        response_headers={"content-type": response.headers.get("content-type")},
                    )
                )
                await uow.commit()
                return response
            await uow.finish(response.status_code)
        except BaseException as exc:
            await uow.fail(exc)
            await self._release(caller, key)
            raise
        await self._release(caller, key)
        return response

    async def _claim(self, caller: str, key: str, print_: str) -> _Replay | None:
        now = utc_now()
        async with self._sessionmaker() as session, session.begin():
            insert = conflict_insert_for(session)
            claimed = await session.scalar(
                insert(IdempotencyKey)
                .values(
                    caller=caller,
                    key=key,
                    fingerprint=print_,
                    status="in_progress",
                    locked_at=now,
                    expires_at=now + self._ttl,
                )
                .on_conflict_do_nothing(index_elements=["caller", "key"])
                .returning(IdempotencyKey.id)
            )
            if claimed is not None:
                return None
            row = (
                await session.execute(
                    select(IdempotencyKey)
                    .where(IdempotencyKey.caller == caller, IdempotencyKey.key == key)
                    .with_for_update()
                )
            ).scalar_one()
            abandoned = row.status == "in_progress" and row.locked_at <= now - self._lock_timeout
            if row.expires_at > now and not abandoned:
                if row.fingerprint != print_:
                    raise IdempotencyKeyReused()
                if row.status != "completed":
                    raise IdempotencyKeyInProgress()
                return _Replay(
                    status=row.response_status or 200,
                    body=row.response_body or "",
                    headers=row.response_headers or {},
                )
            # Expired, or abandoned by a process that died mid-request: take it over.
            row.fingerprint = print_
            row.status = "in_progress"
            row.locked_at = now
            row.expires_at = now + self._ttl
            row.response_status = row.response_body = row.response_headers = None
            return None

    async def _release(self, caller: str, key: str) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.caller == caller,
                    IdempotencyKey.key == key,
                    IdempotencyKey.status == "in_progress",
                )
            )

    async def prune_expired(self) -> int:
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utc_now())
            )
            return int(getattr(result, "rowcount", 0) or 0)
