"""Tip pooling: each business day's tips shared among the people who worked that day.

The rule lives in the restaurant's pos settings under ``tipPooling``::

    {"enabled": true, "roleWeights": {"waiter": 1, "kitchen_staff": 0.5}, "includeOrderTips": true}

1. **The pool of a business day** (days start at ``businessDayStartsAt``, default 04:00, in
   the restaurant's time zone) is the tips of the tenders applied to their order that day
   (``completed_at``; completed, partially refunded or refunded since), less the part of each
   tip refunded since (refunds take the tip last, so a tender's refunded tip is what was
   refunded beyond its amount). A *held* payment is money to give back and was never
   applied (no ``completed_at``), so its tip is not pooled, even once partly refunded. With
   ``includeOrderTips`` the tips on orders themselves (``Order.tip_minor``) of that business
   day count too, once the order is paid, with the same refunded-last deduction.
2. **Hours**: each person's worked time that business day from the time clock, computed as
   the timesheet does (real elapsed time, unpaid breaks excluded, open entries count nothing
   yet), split at business-day starts instead of midnights.
3. **Weight**: ``roleWeights`` by the person's role, 1 for a role not listed. A weight of 0
   takes a role out of the pool.
4. **Share** = pool x (seconds x weight) / sum of (seconds x weight), split with the
   largest-remainder method so the shares add up to the pool to the minor unit. When nobody
   worked (or every weight is 0) the pool stays unallocated. With pooling off, nothing is
   allocated and the day's tips are reported as unallocated.

Settings are checked when read: a malformed value falls back to its default (pooling off,
weight 1, order tips excluded) and is named in ``problems``, never a 500.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.auth.subject import Subject
from fynlo.authz.context import restaurant_settings
from fynlo.authz.roles import ALL_ROLES
from fynlo.models import Order, Payment, Restaurant, TimeEntry, User
from fynlo.orders.numbering import business_date, business_day_bounds, parse_day_start
from fynlo.payments import state
from fynlo.staff.timesheet import (
    Bounds,
    Shift,
    as_shift,
    bounded_setting,
    check_range,
    worked_by_day,
    zone_of,
)

K = TypeVar("K")

MAX_WEIGHT = Decimal(100)
WEIGHT = Bounds(Decimal(0), MAX_WEIGHT)
PAID_ORDER_STATUSES = ("paid", "partially_refunded", "refunded")


@dataclass(frozen=True)
class TipRule:
    enabled: bool = False
    role_weights: Mapping[str, Decimal] = field(default_factory=dict)
    include_order_tips: bool = False
    problems: tuple[str, ...] = ()

    def weight(self, role: str) -> Decimal:
        return self.role_weights.get(role, Decimal(1))

    def weights(self) -> dict[str, Decimal]:
        """Every role's weight, defaults included (what the answer shows)."""
        return {role: self.weight(role) for role in ALL_ROLES}

    @classmethod
    def from_pos_settings(cls, pos: Mapping[str, Any]) -> TipRule:
        raw = pos.get("tipPooling")
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            return cls(problems=("tipPooling must be an object; pooling is off",))
        problems: list[str] = []

        def flag(key: str) -> bool:
            value = raw.get(key, False)
            if isinstance(value, bool):
                return value
            problems.append(f"tipPooling.{key} must be true or false; using false")
            return False

        weights: dict[str, Decimal] = {}
        given = raw.get("roleWeights", {})
        if not isinstance(given, Mapping):
            problems.append("tipPooling.roleWeights must be an object; every weight is 1")
            given = {}
        for role, value in given.items():
            weight = _weight(value)
            if role not in ALL_ROLES:
                problems.append(f"tipPooling.roleWeights.{role}: unknown role; ignored")
            elif weight is None:
                problems.append(
                    f"tipPooling.roleWeights.{role} must be a number from 0 to {MAX_WEIGHT} "
                    f"with at most {WEIGHT.places} decimal places; using 1"
                )
            else:
                weights[role] = weight
        enabled = flag("enabled")
        include_order_tips = flag("includeOrderTips")
        return cls(enabled, weights, include_order_tips, tuple(problems))


def _weight(value: object) -> Decimal | None:
    return bounded_setting(value, WEIGHT)


def split(total: int, weights: Sequence[tuple[K, Fraction]]) -> dict[K, int]:
    """``total`` minor units in proportion to ``weights`` (largest-remainder method).

    Each share is its exact quota rounded down, then the units left over go one each to the
    largest remainders (ties: the earlier key), so the shares add up to ``total`` exactly and
    none is more than one unit from its quota. All zero weights: every share 0.
    """
    if total < 0:
        raise ValueError("a pool cannot be negative")
    if any(weight < 0 for _, weight in weights):
        raise ValueError("weights cannot be negative")
    whole = sum((weight for _, weight in weights), Fraction(0))
    shares = {key: 0 for key, _ in weights}
    if whole == 0 or total == 0:
        return shares
    remainders: list[tuple[Fraction, int, K]] = []
    for position, (key, weight) in enumerate(weights):
        quota = total * weight / whole
        floor = math.floor(quota)
        shares[key] = floor
        remainders.append((quota - floor, position, key))
    left = total - sum(shares.values())
    for _, _, key in sorted(remainders, key=lambda r: (-r[0], r[1]))[:left]:
        shares[key] += 1
    return shares


@dataclass(frozen=True)
class Worker:
    user_id: uuid.UUID
    name: str
    role: str


@dataclass(frozen=True)
class Member:
    worker: Worker
    seconds: int
    weight: Decimal
    share: int


@dataclass(frozen=True)
class DayPool:
    day: date
    tender_tips: int
    order_tips: int
    members: tuple[Member, ...]

    @property
    def tips(self) -> int:
        return self.tender_tips + self.order_tips

    @property
    def allocated(self) -> int:
        return sum(m.share for m in self.members)

    @property
    def unallocated(self) -> int:
        return self.tips - self.allocated

    def share_of(self, user_id: uuid.UUID) -> int:
        return sum(m.share for m in self.members if m.worker.user_id == user_id)


def allocate(
    day: date,
    tender_tips: int,
    order_tips: int,
    worked: Mapping[Worker, int],
    rule: TipRule,
) -> DayPool:
    """One business day's pool shared by the rule (pure: the numbers are given)."""
    order_tips = order_tips if rule.include_order_tips else 0
    workers = sorted((w for w, s in worked.items() if s > 0), key=lambda w: str(w.user_id))
    weighted = [(w, worked[w] * Fraction(rule.weight(w.role))) for w in workers]
    shares = split(tender_tips + order_tips, weighted) if rule.enabled else {}
    members = tuple(
        Member(w, worked[w], rule.weight(w.role), shares.get(w, 0))
        for w in sorted(workers, key=lambda w: (w.name.lower(), str(w.user_id)))
    )
    return DayPool(day, tender_tips, order_tips, members)


def tender_tip_left(payment: Payment) -> int:
    """A tender's tip less what of it was refunded (refunds take the tip last)."""
    refunded_tip = max(0, payment.refunded_minor - payment.amount_minor)
    return max(0, payment.tip_minor - refunded_tip)


def order_tip_left(order: Order) -> int:
    """An order's own tip less what of it was refunded (the tip is refunded last)."""
    goods = order.total_minor - order.tip_minor
    refunded_tip = max(0, order.refunded_minor - goods)
    return max(0, order.tip_minor - refunded_tip)


@dataclass(frozen=True)
class TipPools:
    first: date
    last: date
    zone: ZoneInfo
    day_starts_at: time
    rule: TipRule
    days: tuple[DayPool, ...]

    def shares_of(self, user_id: uuid.UUID) -> dict[date, int]:
        return {pool.day: pool.share_of(user_id) for pool in self.days}


async def tip_pools(
    session: AsyncSession,
    restaurant: Restaurant,
    pos: Mapping[str, Any],
    first: date,
    last: date,
    zone: ZoneInfo,
) -> TipPools:
    """The pools of the business days ``first`` to ``last``: the days with tips or work."""
    rule = TipRule.from_pos_settings(pos)
    day_starts_at = parse_day_start(pos.get("businessDayStartsAt"))
    start = business_day_bounds(first, zone.key, day_starts_at)[0]
    end = business_day_bounds(last, zone.key, day_starts_at)[1]

    def in_range(day: date) -> bool:
        return first <= day <= last

    tender_tips: dict[date, int] = defaultdict(int)
    payments = await session.scalars(
        select(Payment).where(
            Payment.restaurant_id == restaurant.id,
            Payment.status.in_(state.APPLIED),
            Payment.tip_minor > 0,
            # a day either side: the business day is decided below, in the local zone
            Payment.completed_at >= start - timedelta(days=1),
            Payment.completed_at < end + timedelta(days=1),
        )
    )
    for payment in payments:
        applied = payment.completed_at
        day = business_date(applied, zone.key, day_starts_at) if applied else None
        if day is not None and in_range(day):
            tender_tips[day] += tender_tip_left(payment)

    order_tips: dict[date, int] = defaultdict(int)
    if rule.include_order_tips:
        orders = await session.scalars(
            select(Order).where(
                Order.restaurant_id == restaurant.id,
                Order.business_date >= first,
                Order.business_date <= last,
                Order.tip_minor > 0,
                Order.status != "cancelled",
                Order.payment_status.in_(PAID_ORDER_STATUSES),
            )
        )
        for order in orders:
            order_tips[order.business_date] += order_tip_left(order)

    rows = await session.execute(
        select(TimeEntry, User)
        .join(User, User.id == TimeEntry.user_id)
        .where(
            TimeEntry.restaurant_id == restaurant.id,
            TimeEntry.clock_out.is_not(None),
            TimeEntry.clock_in < end,
            TimeEntry.clock_out > start,
        )
        .order_by(TimeEntry.clock_in, TimeEntry.id)
    )
    by_worker: dict[Worker, list[Shift]] = defaultdict(list)
    for entry, user in rows:
        worker = Worker(user.id, f"{user.first_name} {user.last_name}".strip(), user.role)
        by_worker[worker].append(as_shift(entry))
    worked: dict[date, dict[Worker, int]] = defaultdict(dict)
    for worker, shifts in by_worker.items():
        for day, seconds in worked_by_day(shifts, zone, day_starts_at).items():
            if in_range(day) and seconds > 0:
                worked[day][worker] = seconds

    days = sorted(set(tender_tips) | set(order_tips) | set(worked))
    pools = tuple(
        allocate(day, tender_tips.get(day, 0), order_tips.get(day, 0), worked.get(day, {}), rule)
        for day in days
    )
    return TipPools(first, last, zone, day_starts_at, rule, pools)


def totals_by_worker(pools: Iterable[DayPool]) -> dict[Worker, tuple[int, int]]:
    """Per person over several days: (seconds, share)."""
    totals: dict[Worker, tuple[int, int]] = {}
    for pool in pools:
        for member in pool.members:
            seconds, share = totals.get(member.worker, (0, 0))
            totals[member.worker] = (seconds + member.seconds, share + member.share)
    return totals


async def pool_report(
    session: AsyncSession, subject: Subject, restaurant: Restaurant, first: date, last: date
) -> TipPools:
    """``GET /api/tips/pool``: everyone's shares, so it needs ``staff.timesheets``."""
    subject.require("staff.timesheets")
    check_range(first, last)
    settings = await restaurant_settings(session, restaurant)
    pos = dict(settings.pos_settings) if settings else {}
    return await tip_pools(session, restaurant, pos, first, last, zone_of(restaurant))
