"""Issuing, loading, checking and disabling gift cards.

The balance moves only through :func:`fynlo.payments.ledgers.gift_card_entry`, so the
ledger's entries always sum to it. Redeeming a card as a tender is the payment service's.
A code is a bearer credential: audit rows, errors and logs only ever carry it masked.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.db.types import utc_now
from fynlo.kit.errors import Conflict, ResourceNotFound
from fynlo.kit.money import to_minor
from fynlo.kit.pagination import PageParams
from fynlo.models import GiftCard, GiftCardEntry, Restaurant
from fynlo.payments.gift_card_schemas import GiftCardDisable, GiftCardIssue, GiftCardLoad
from fynlo.payments.ledgers import (
    check_usable,
    gift_card_entry,
    lock_gift_card,
    mask,
    normalise_code,
)

# No 0/O, 1/I/L: read aloud or typed from a receipt, nothing can be mistaken.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 16  # 31^16, about 79 bits: not guessable through the balance endpoint
_GENERATE_ATTEMPTS = 5


def generate_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_expired(card: GiftCard) -> bool:
    return card.expires_at is not None and card.expires_at <= utc_now()


class GiftCardCodeTaken(Conflict):
    code = "gift_card_code_taken"
    default_message = "A gift card with this code already exists in this restaurant"


class GiftCardAlreadyDisabled(Conflict):
    code = "gift_card_already_disabled"

    def __init__(self, card: GiftCard) -> None:
        super().__init__(
            f"Gift card {mask(card.code)} is already disabled",
            details={"status": card.status},
        )


@dataclass(frozen=True)
class GiftCardView:
    card: GiftCard
    entries: Sequence[GiftCardEntry]


class GiftCardService:
    def __init__(self, session: AsyncSession, subject: Subject, restaurant: Restaurant) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant

    # --- reading ----------------------------------------------------------------------

    def _scoped(self) -> Select[GiftCard]:
        return select(GiftCard).where(GiftCard.restaurant_id == self.restaurant.id)

    async def _entries(self, card: GiftCard) -> Sequence[GiftCardEntry]:
        rows = await self.session.scalars(
            select(GiftCardEntry)
            .where(
                GiftCardEntry.restaurant_id == self.restaurant.id,
                GiftCardEntry.gift_card_id == card.id,
            )
            .order_by(GiftCardEntry.created_at, GiftCardEntry.id)
        )
        return rows.all()

    async def _view(self, card: GiftCard) -> GiftCardView:
        await self.session.flush()
        return GiftCardView(card, await self._entries(card))

    async def get(self, card_id: uuid.UUID) -> GiftCardView:
        card = await self.session.scalar(self._scoped().where(GiftCard.id == card_id))
        if card is None:
            raise ResourceNotFound("Gift card", card_id)
        return await self._view(card)

    async def by_code(self, code: str) -> GiftCard:
        normalised = normalise_code(code)
        card = await self.session.scalar(self._scoped().where(GiftCard.code == normalised))
        if card is None:
            raise ResourceNotFound("Gift card", mask(normalised))
        return card

    async def find(
        self, paging: PageParams, *, status: str | None
    ) -> tuple[Sequence[GiftCard], int]:
        query = self._scoped()
        if status is not None:
            query = query.where(GiftCard.status == status)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(GiftCard.created_at.desc(), GiftCard.id)
            .limit(paging.limit)
            .offset(paging.offset)
        )
        return rows.all(), total

    # --- changing ---------------------------------------------------------------------

    async def _code_in_use(self, code: str) -> bool:
        found = await self.session.scalar(
            select(GiftCard.id).where(
                GiftCard.restaurant_id == self.restaurant.id, GiftCard.code == code
            )
        )
        return found is not None

    async def _new_code(self) -> str:
        for _ in range(_GENERATE_ATTEMPTS):
            code = generate_code()
            if not await self._code_in_use(code):
                return code
        raise GiftCardCodeTaken("Could not generate an unused gift card code; try again")

    async def issue(self, body: GiftCardIssue) -> tuple[GiftCardView, str]:
        """The new card and its full code (the only time the code is handed back)."""
        currency = self.restaurant.currency
        amount = to_minor(body.initial_amount, currency, field="initialAmount")
        if body.code is not None:
            code = normalise_code(body.code)
            if await self._code_in_use(code):
                raise GiftCardCodeTaken()
        else:
            code = await self._new_code()
        card = GiftCard(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            code=code,
            currency=currency,
            balance_minor=0,
            initial_minor=amount,
            status="active",
            expires_at=body.expires_at,
            issued_by=self.subject.id,
            version=1,
        )
        try:
            # The same pre-printed code issued from two tills at once: one wins the
            # unique constraint, the other is told the code is taken.
            async with self.session.begin_nested():
                self.session.add(card)
                await self.session.flush()
        except IntegrityError:
            raise GiftCardCodeTaken() from None
        gift_card_entry(self.session, card, "issue", amount, user_id=self.subject.id)
        await record(
            self.session,
            self.subject.actor,
            action="gift_card.issued",
            resource_type="gift_card",
            resource_id=card.id,
            restaurant_id=self.restaurant.id,
            new={
                "code": mask(code),
                "balance": card.balance_minor,
                "currency": currency,
                "expiresAt": card.expires_at.isoformat() if card.expires_at else None,
            },
        )
        return await self._view(card), code

    async def load(self, card_id: uuid.UUID, body: GiftCardLoad) -> GiftCardView:
        card = await lock_gift_card(self.session, self.restaurant.id, card_id=card_id)
        check_usable(card, self.restaurant.currency)
        amount = to_minor(body.amount, card.currency, field="amount")
        before = card.balance_minor
        gift_card_entry(
            self.session, card, "load", amount, user_id=self.subject.id, reason=body.reason
        )
        await record(
            self.session,
            self.subject.actor,
            action="gift_card.loaded",
            resource_type="gift_card",
            resource_id=card.id,
            restaurant_id=self.restaurant.id,
            old={"balance": before},
            new={
                "code": mask(card.code),
                "balance": card.balance_minor,
                "amount": amount,
                "currency": card.currency,
                "reason": body.reason,
            },
        )
        return await self._view(card)

    async def disable(self, card_id: uuid.UUID, body: GiftCardDisable) -> GiftCardView:
        card = await lock_gift_card(self.session, self.restaurant.id, card_id=card_id)
        if card.status == "disabled":
            raise GiftCardAlreadyDisabled(card)
        card.status = "disabled"
        card.version += 1
        await record(
            self.session,
            self.subject.actor,
            action="gift_card.disabled",
            resource_type="gift_card",
            resource_id=card.id,
            restaurant_id=self.restaurant.id,
            old={"status": "active"},
            new={
                "status": "disabled",
                "code": mask(card.code),
                "balance": card.balance_minor,
                "reason": body.reason,
            },
        )
        return await self._view(card)
