"""The daily settlement per method: gross, tips, fees, refunds and net for one business day
in the restaurant's time zone. Sums of the stored rows, so it matches them to the penny."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import Payment, PaymentRefund, Restaurant
from fynlo.payments import state


@dataclass
class Line:
    method: str
    count: int = 0
    gross: int = 0
    tips: int = 0
    fees: int = 0
    refunds: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.fees - self.refunds


@dataclass
class Settlement:
    day: date
    currency: str
    time_zone: str
    lines: list[Line] = field(default_factory=list)

    @property
    def totals(self) -> Line:
        total = Line("all")
        for line in self.lines:
            total.count += line.count
            total.gross += line.gross
            total.tips += line.tips
            total.fees += line.fees
            total.refunds += line.refunds
        return total


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


async def settlement(session: AsyncSession, restaurant: Restaurant, day: date) -> Settlement:
    start, end = day_bounds(day, restaurant.timezone)
    by_method: dict[str, Line] = defaultdict(lambda: Line(""))
    # Money received that day: completed (or held for refund, which has no completed_at).
    received = func.coalesce(Payment.completed_at, Payment.created_at)
    payments = await session.scalars(
        select(Payment).where(
            Payment.restaurant_id == restaurant.id,
            Payment.status.in_(state.CAPTURED | state.APPLIED),
            received >= start,
            received < end,
        )
    )
    for payment in payments:
        line = by_method[payment.method]
        line.method = payment.method
        line.count += 1
        line.gross += payment.amount_minor + payment.tip_minor
        line.tips += payment.tip_minor
        line.fees += payment.fee_minor
    refunds = await session.scalars(
        select(PaymentRefund).where(
            PaymentRefund.restaurant_id == restaurant.id,
            PaymentRefund.status == "completed",
            PaymentRefund.created_at >= start,
            PaymentRefund.created_at < end,
        )
    )
    for refund in refunds:
        line = by_method[refund.method]
        line.method = refund.method
        line.refunds += refund.amount_minor
    return Settlement(
        day=day,
        currency=restaurant.currency,
        time_zone=restaurant.timezone,
        lines=sorted(by_method.values(), key=lambda line: line.method),
    )
