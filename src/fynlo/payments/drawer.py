"""Cash drawer sessions: open with a float, pay cash in and out, count and close.

The expected cash is never stored while a session is open: it is the sum of the session's
movements (float, sales, refunds, paid in, paid out), fixed into the session row at close.
Every change locks the session row first, so two paid-outs cannot both spend the same
cash and a paid-out cannot land in a session that is being closed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.db.locking import lock_for_update
from fynlo.db.types import utc_now
from fynlo.kit.errors import Conflict, ResourceNotFound, StaleVersion
from fynlo.kit.money import to_major, to_minor
from fynlo.kit.pagination import PageParams
from fynlo.models import CashDrawerSession, CashMovement, Restaurant
from fynlo.payments.drawer_schemas import DrawerClose, DrawerMovementIn, DrawerOpen
from fynlo.payments.ledgers import cash_movement, open_drawer


class DrawerAlreadyOpen(Conflict):
    code = "drawer_already_open"

    def __init__(self, drawer: str, session_id: uuid.UUID | None = None) -> None:
        super().__init__(
            f"Cash drawer '{drawer}' already has an open session; close it before opening another",
            details={"drawer": drawer, "sessionId": str(session_id) if session_id else None},
        )


class DrawerClosed(Conflict):
    code = "drawer_closed"

    def __init__(self, drawer: CashDrawerSession) -> None:
        super().__init__(
            f"Cash drawer session for '{drawer.drawer}' is already closed",
            details={"sessionId": str(drawer.id), "status": drawer.status},
        )


class InsufficientDrawerCash(Conflict):
    code = "insufficient_drawer_cash"

    def __init__(self, drawer: CashDrawerSession, expected: int, wanted: int) -> None:
        c = drawer.currency
        super().__init__(
            f"Cash drawer '{drawer.drawer}' should hold {to_major(expected, c)}; "
            f"cannot pay out {to_major(wanted, c)}",
            details={
                "expected": float(to_major(expected, c)),
                "amount": float(to_major(wanted, c)),
            },
        )


@dataclass(frozen=True)
class DrawerView:
    """A session with its movement totals by kind (and the movements, when loaded)."""

    drawer: CashDrawerSession
    by_kind: dict[str, int]
    movements: Sequence[CashMovement] = ()

    @property
    def expected(self) -> int:
        if self.drawer.expected_minor is not None:
            return self.drawer.expected_minor
        return sum(self.by_kind.values())


def _by_kind(movements: Sequence[CashMovement]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for movement in movements:
        totals[movement.kind] = totals.get(movement.kind, 0) + movement.amount_minor
    return totals


class DrawerService:
    def __init__(self, session: AsyncSession, subject: Subject, restaurant: Restaurant) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant

    # --- reading ----------------------------------------------------------------------

    def _scoped(self) -> Select[CashDrawerSession]:
        return select(CashDrawerSession).where(
            CashDrawerSession.restaurant_id == self.restaurant.id
        )

    async def _movements(self, session_id: uuid.UUID) -> Sequence[CashMovement]:
        rows = await self.session.scalars(
            select(CashMovement)
            .where(
                CashMovement.restaurant_id == self.restaurant.id,
                CashMovement.session_id == session_id,
            )
            .order_by(CashMovement.created_at, CashMovement.id)
        )
        return rows.all()

    async def _view(self, drawer: CashDrawerSession) -> DrawerView:
        movements = await self._movements(drawer.id)
        return DrawerView(drawer, _by_kind(movements), movements)

    async def get(self, session_id: uuid.UUID) -> DrawerView:
        drawer = await self.session.scalar(self._scoped().where(CashDrawerSession.id == session_id))
        if drawer is None:
            raise ResourceNotFound("Cash drawer session", session_id)
        return await self._view(drawer)

    async def find(
        self, paging: PageParams, *, status: str | None, drawer: str | None
    ) -> tuple[list[DrawerView], int]:
        query = self._scoped()
        if status is not None:
            query = query.where(CashDrawerSession.status == status)
        if drawer is not None:
            query = query.where(CashDrawerSession.drawer == drawer)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = (
            await self.session.scalars(
                query.order_by(CashDrawerSession.opened_at.desc(), CashDrawerSession.id)
                .limit(paging.limit)
                .offset(paging.offset)
            )
        ).all()
        totals: dict[uuid.UUID, dict[str, int]] = {row.id: {} for row in rows}
        if rows:
            sums = await self.session.execute(
                select(
                    CashMovement.session_id, CashMovement.kind, func.sum(CashMovement.amount_minor)
                )
                .where(
                    CashMovement.restaurant_id == self.restaurant.id,
                    CashMovement.session_id.in_(list(totals)),
                )
                .group_by(CashMovement.session_id, CashMovement.kind)
            )
            for session_id, kind, amount in sums.all():
                totals[session_id][kind] = int(amount or 0)
        return [DrawerView(row, totals[row.id]) for row in rows], total

    # --- changing ---------------------------------------------------------------------

    async def _lock(self, session_id: uuid.UUID) -> CashDrawerSession:
        drawer = await self.session.scalar(
            lock_for_update(
                self._scoped().where(CashDrawerSession.id == session_id)
            ).execution_options(populate_existing=True)
        )
        if drawer is None:
            raise ResourceNotFound("Cash drawer session", session_id)
        return drawer

    async def _expected(self, drawer: CashDrawerSession) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(CashMovement.amount_minor), 0)).where(
                CashMovement.restaurant_id == self.restaurant.id,
                CashMovement.session_id == drawer.id,
            )
        )
        return int(total or 0)

    async def open(self, body: DrawerOpen) -> DrawerView:
        currency = self.restaurant.currency
        float_minor = to_minor(body.float_amount, currency, field="float")
        existing = await open_drawer(self.session, self.restaurant.id, body.drawer)
        if existing is not None:
            raise DrawerAlreadyOpen(body.drawer, existing.id)
        drawer = CashDrawerSession(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            drawer=body.drawer,
            currency=currency,
            status="open",
            float_minor=float_minor,
            opened_by=self.subject.id,
            opened_at=utc_now(),
            notes=body.notes,
            version=1,
        )
        try:
            # Two tills opening the same drawer at once both pass the check above on
            # PostgreSQL; the partial unique index lets one in and the other lands here.
            async with self.session.begin_nested():
                self.session.add(drawer)
                await self.session.flush()
        except IntegrityError:
            raise DrawerAlreadyOpen(body.drawer) from None
        self.session.add(
            cash_movement(
                drawer, "float", float_minor, user_id=self.subject.id, reason="opening float"
            )
        )
        await record(
            self.session,
            self.subject.actor,
            action="cash_drawer.opened",
            resource_type="cash_drawer_session",
            resource_id=drawer.id,
            restaurant_id=self.restaurant.id,
            new={
                "drawer": drawer.drawer,
                "status": "open",
                "float": float_minor,
                "currency": currency,
            },
        )
        await self.session.flush()
        return await self._view(drawer)

    async def move(
        self, session_id: uuid.UUID, body: DrawerMovementIn
    ) -> tuple[CashMovement, DrawerView]:
        drawer = await self._lock(session_id)
        if drawer.status != "open":
            raise DrawerClosed(drawer)
        amount = to_minor(body.amount, drawer.currency, field="amount")
        expected = await self._expected(drawer)
        if body.type == "paid_out" and amount > expected:
            raise InsufficientDrawerCash(drawer, expected, amount)
        signed = amount if body.type == "paid_in" else -amount
        movement = cash_movement(
            drawer, body.type, signed, user_id=self.subject.id, reason=body.reason
        )
        self.session.add(movement)
        drawer.version += 1
        await record(
            self.session,
            self.subject.actor,
            action=f"cash_drawer.{body.type}",
            resource_type="cash_drawer_session",
            resource_id=drawer.id,
            restaurant_id=self.restaurant.id,
            old={"expected": expected},
            new={
                "expected": expected + signed,
                "amount": signed,
                "reason": body.reason,
                "drawer": drawer.drawer,
                "currency": drawer.currency,
            },
        )
        await self.session.flush()
        return movement, await self._view(drawer)

    async def close(self, session_id: uuid.UUID, body: DrawerClose) -> DrawerView:
        drawer = await self._lock(session_id)
        if drawer.status != "open":
            raise DrawerClosed(drawer)
        if body.version is not None and body.version != drawer.version:
            raise StaleVersion("Cash drawer session", body.version, drawer.version)
        counted = to_minor(body.counted_amount, drawer.currency, field="countedAmount")
        expected = await self._expected(drawer)
        drawer.status = "closed"
        drawer.closed_by = self.subject.id
        drawer.closed_at = utc_now()
        drawer.expected_minor = expected
        drawer.counted_minor = counted
        drawer.variance_minor = counted - expected
        if body.notes:
            drawer.notes = f"{drawer.notes}\n{body.notes}" if drawer.notes else body.notes
        drawer.version += 1
        await record(
            self.session,
            self.subject.actor,
            action="cash_drawer.closed",
            resource_type="cash_drawer_session",
            resource_id=drawer.id,
            restaurant_id=self.restaurant.id,
            old={"status": "open"},
            new={
                "status": "closed",
                "drawer": drawer.drawer,
                "expected": expected,
                "counted": counted,
                "variance": counted - expected,
                "currency": drawer.currency,
            },
        )
        await self.session.flush()
        return await self._view(drawer)
