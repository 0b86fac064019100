"""The QR sweep: expire pending QR payments past their time, and poll the bank for those a
webhook should have confirmed by now (the fallback for a missed webhook). Each QR payment
is handled in its own short transaction under the same locks as a request, so running the
sweep twice, or beside a webhook, is harmless."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fynlo.audit.service import AuditActor
from fynlo.config import Settings
from fynlo.db.engine import write_intent
from fynlo.db.types import utc_now
from fynlo.models import QrPayment, Restaurant
from fynlo.payments import core
from fynlo.payments.providers.base import ProviderError
from fynlo.payments.providers.registry import PaymentProviders
from fynlo.payments.qr import QrService

log = structlog.get_logger(__name__)

JOB_ACTOR = AuditActor(user_agent="fynlo-jobs/qr-sweep")
BATCH = 200


@dataclass
class SweepResult:
    expired: int = 0
    confirmed: int = 0
    polled: int = 0


async def _one(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    providers: PaymentProviders,
    qr_id: uuid.UUID,
    *,
    poll: bool,
    result: SweepResult,
) -> None:
    bank_state = None
    if poll and providers.bank is not None:
        async with sessionmaker() as session:
            found = await session.get(QrPayment, qr_id)
            provider_id = found.provider_payment_id if found else None
        if provider_id:
            try:
                bank_state = await providers.bank.status(provider_id)
                result.polled += 1
            except ProviderError as exc:
                log.warning("qr_poll_failed", qr_payment_id=str(qr_id), error=exc.message)
    async with write_intent(), sessionmaker() as session, session.begin():
        found = await session.get(QrPayment, qr_id)
        if found is None:
            return
        restaurant = await session.get(Restaurant, found.restaurant_id)
        assert restaurant is not None
        service = QrService(session, restaurant, JOB_ACTOR, settings, providers.bank)
        await core.lock_order(session, restaurant.id, found.order_id)
        qr = await service.get(qr_id, lock=True)
        if bank_state is not None and bank_state.status != "pending":
            if await service.apply_bank_state(qr, bank_state) is not None:
                result.confirmed += 1
            if qr.status != "pending":
                return
        if await service.expire(qr):
            result.expired += 1


async def sweep_qr_payments(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    providers: PaymentProviders,
) -> SweepResult:
    result = SweepResult()
    now = utc_now()
    poll_before = now - timedelta(seconds=settings.qr_poll_after_seconds)
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(QrPayment.id, QrPayment.expires_at, QrPayment.created_at)
                .where(QrPayment.status == "pending")
                .where((QrPayment.expires_at <= now) | (QrPayment.created_at <= poll_before))
                .order_by(QrPayment.expires_at)
                .limit(BATCH)
            )
        ).all()
    for qr_id, _, created_at in rows:
        # Past its time or not, a QR payment the bank may have settled is asked about
        # first, so a payment that did arrive is never marked expired.
        await _one(
            sessionmaker,
            settings,
            providers,
            qr_id,
            poll=created_at <= poll_before,
            result=result,
        )
    return result
