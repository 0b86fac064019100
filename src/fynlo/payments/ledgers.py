"""Balances that tenders move: the cash drawer and gift cards. Both append-only."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.locking import lock_for_update
from fynlo.db.types import utc_now
from fynlo.kit.errors import Conflict, ResourceNotFound, Unprocessable
from fynlo.kit.money import to_major
from fynlo.models import CashDrawerSession, CashMovement, GiftCard, GiftCardEntry


async def open_drawer(
    session: AsyncSession, restaurant_id: uuid.UUID, drawer: str
) -> CashDrawerSession | None:
    """The drawer's open session, locked (after the order: the fixed lock order), so a sale
    or refund cannot land in a session while it is being closed."""
    return await session.scalar(
        lock_for_update(
            select(CashDrawerSession).where(
                CashDrawerSession.restaurant_id == restaurant_id,
                CashDrawerSession.drawer == drawer,
                CashDrawerSession.status == "open",
            )
        ).execution_options(populate_existing=True)
    )


def cash_movement(
    drawer: CashDrawerSession,
    kind: str,
    amount_minor: int,
    *,
    user_id: uuid.UUID | None,
    reason: str | None = None,
    payment_id: uuid.UUID | None = None,
) -> CashMovement:
    return CashMovement(
        restaurant_id=drawer.restaurant_id,
        session_id=drawer.id,
        kind=kind,
        amount_minor=amount_minor,
        reason=reason,
        payment_id=payment_id,
        user_id=user_id,
    )


class GiftCardUnusable(Conflict):
    code = "gift_card_unusable"


class InsufficientGiftCardBalance(Conflict):
    code = "insufficient_gift_card_balance"


async def lock_gift_card(
    session: AsyncSession,
    restaurant_id: uuid.UUID,
    *,
    code: str | None = None,
    card_id: uuid.UUID | None = None,
) -> GiftCard:
    query = select(GiftCard).where(GiftCard.restaurant_id == restaurant_id)
    if card_id is not None:
        query = query.where(GiftCard.id == card_id)
    else:
        query = query.where(GiftCard.code == normalise_code(code or ""))
    card = await session.scalar(lock_for_update(query).execution_options(populate_existing=True))
    if card is None:
        # A code is a bearer credential: never echoed back in full.
        raise ResourceNotFound("Gift card", card_id or mask(normalise_code(code or "")))
    return card


def normalise_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def gift_card_entry(
    session: AsyncSession,
    card: GiftCard,
    kind: str,
    amount_minor: int,
    *,
    user_id: uuid.UUID | None,
    payment_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> GiftCardEntry:
    """Move the (locked) card's balance by ``amount_minor`` and append the ledger row."""
    balance = card.balance_minor + amount_minor
    if balance < 0:
        raise InsufficientGiftCardBalance(
            f"Gift card {mask(card.code)} has {to_major(card.balance_minor, card.currency)} "
            f"left, less than {to_major(-amount_minor, card.currency)}",
            details={"balance": float(to_major(card.balance_minor, card.currency))},
        )
    card.balance_minor = balance
    card.version += 1
    entry = GiftCardEntry(
        restaurant_id=card.restaurant_id,
        gift_card_id=card.id,
        kind=kind,
        amount_minor=amount_minor,
        balance_after_minor=balance,
        payment_id=payment_id,
        user_id=user_id,
        reason=reason,
    )
    session.add(entry)
    return entry


def check_usable(card: GiftCard, currency: str) -> None:
    if card.status != "active":
        raise GiftCardUnusable(
            f"Gift card {mask(card.code)} is {card.status}", details={"status": card.status}
        )
    if card.expires_at is not None and card.expires_at <= utc_now():
        raise GiftCardUnusable(
            f"Gift card {mask(card.code)} expired on {card.expires_at.date().isoformat()}",
            details={"expiresAt": card.expires_at.isoformat()},
        )
    if card.currency != currency:
        raise Unprocessable(
            f"Gift card {mask(card.code)} is in {card.currency}, the order in {currency}",
            details=[{"field": "code", "message": "currency differs from the order's"}],
        )


def mask(code: str) -> str:
    """Codes are bearer credentials: only the last four characters are ever shown back."""
    return "•••• " + code[-4:]
