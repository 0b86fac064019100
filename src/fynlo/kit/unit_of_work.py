"""One database session per request, committed once by the request and never by services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fynlo.events.outbox import OUTBOX_PENDING
from fynlo.kit.errors import FynloError

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """Lazily opens the request's session; :meth:`finish` commits or rolls back once."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        on_events: Callable[[], None] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._after_commit: list[AfterCommit] = []
        self._on_events = on_events

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._sessionmaker()
        return self._session

    @property
    def started(self) -> bool:
        return self._session is not None

    def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` only once the transaction has committed (never on rollback)."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        if self._session is not None:
            await self._session.commit()
            # Domain events were committed: the outbox dispatcher publishes them now.
            if self._session.info.pop(OUTBOX_PENDING, False) and self._on_events is not None:
                self._on_events()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                await callback()
            except Exception:
                # The change is committed; a failed side effect is retried from the outbox.
                log.exception("after_commit_callback_failed")

    async def rollback(self) -> None:
        self._after_commit.clear()
        if self._session is not None:
            await self._session.rollback()
            self._session.info.pop(OUTBOX_PENDING, None)

    async def fail(self, exc: BaseException) -> None:
        """Roll back, unless the error is a refusal whose bookkeeping must be kept."""
        if isinstance(exc, FynloError) and exc.commit_changes:
            await self.commit()
        else:
            await self.rollback()

    async def finish(self, status_code: int) -> None:
        if status_code < 400:
            await self.commit()
        else:
            await self.rollback()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# Coroutines on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a
# hop that costs more than these lookups on every request.
async def get_unit_of_work(request: Request) -> UnitOfWork:
    uow: UnitOfWork = request.state.uow
    return uow


async def get_session(request: Request) -> AsyncSession:
    uow: UnitOfWork = request.state.uow
    return uow.session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
