"""``/api/gift-cards``: issue, load, check the balance of and disable gift cards."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from fynlo.auth.subject import Subject, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.kit.idempotency import idempotent
from fynlo.kit.money import to_major
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import GiftCard, GiftCardEntry
from fynlo.payments.gift_card_schemas import (
    GiftCardBalanceOut,
    GiftCardBalanceQuery,
    GiftCardDetailOut,
    GiftCardDisable,
    GiftCardEntryOut,
    GiftCardIssue,
    GiftCardIssuedOut,
    GiftCardLoad,
    GiftCardOut,
    GiftCardStatus,
)
from fynlo.payments.gift_cards import GiftCardService, GiftCardView, is_expired
from fynlo.payments.ledgers import mask
from fynlo.runtime import get_runtime

# Balance checks answer whether a code exists: a cap per caller keeps them from being a
# way to guess codes, and is far above what a till at a counter needs.
BALANCE_LIMIT_PER_USER = "60/minute"

gift_cards_router = router(prefix="/api/gift-cards", tags=["gift cards"])

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Subject, Depends(require_permission("payments.read"))]
Manager = Annotated[Subject, Depends(require_permission("gift_cards.manage"))]


def entry_out(entry: GiftCardEntry, currency: str) -> GiftCardEntryOut:
    return GiftCardEntryOut(
        id=entry.id,
        type=entry.kind,
        amount=to_major(entry.amount_minor, currency),
        balance_after=to_major(entry.balance_after_minor, currency),
        payment_id=entry.payment_id,
        user_id=entry.user_id,
        reason=entry.reason,
        created_at=entry.created_at,
    )


def _card_fields(card: GiftCard) -> dict[str, Any]:
    c = card.currency
    return {
        "id": card.id,
        "masked_code": mask(card.code),
        "currency": c,
        "balance": to_major(card.balance_minor, c),
        "initial_amount": to_major(card.initial_minor, c),
        "status": card.status,
        "expires_at": card.expires_at,
        "expired": is_expired(card),
        "issued_by": card.issued_by,
        "version": card.version,
        "created_at": card.created_at,
        "updated_at": card.updated_at,
    }


def card_out(card: GiftCard) -> GiftCardOut:
    return GiftCardOut(**_card_fields(card))


def card_detail_out(view: GiftCardView) -> GiftCardDetailOut:
    return GiftCardDetailOut(
        **_card_fields(view.card),
        entries=[entry_out(e, view.card.currency) for e in view.entries],
    )


@gift_cards_router.get(
    "",
    response_model=Envelope[Page[GiftCardOut]],
    summary="Gift cards, newest first (codes masked)",
)
async def list_gift_cards(
    subject: Reader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    paging: Paging,
    status: GiftCardStatus | None = None,
) -> Envelope[Page[GiftCardOut]]:
    rows, total = await GiftCardService(session, subject, restaurant).find(paging, status=status)
    return ok(Page[GiftCardOut].build([card_out(c) for c in rows], paging, total))


@gift_cards_router.post(
    "",
    status_code=201,
    response_model=Envelope[GiftCardIssuedOut],
    openapi_extra=idempotent(),
    summary="Issue a gift card with an initial amount",
    description="In the restaurant's currency, more than 0 and at most 10,000.00. Without "
    "a `code` the server generates a 16-character one. The full code is in this response "
    "only; everything else shows it masked. A code already in use is a 409 "
    "`gift_card_code_taken`.",
)
async def issue_gift_card(
    body: GiftCardIssue, subject: Manager, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[GiftCardIssuedOut]:
    view, code = await GiftCardService(session, subject, restaurant).issue(body)
    return ok(
        GiftCardIssuedOut(
            **_card_fields(view.card),
            entries=[entry_out(e, view.card.currency) for e in view.entries],
            code=code,
        )
    )


@gift_cards_router.post(
    "/balance",
    response_model=Envelope[GiftCardBalanceOut],
    summary="Check a card's balance by its code",
    description="A POST so that codes stay out of URLs and access logs. Answers for disabled "
    "and expired cards too (see `status`, `expired` and `usable`); an unknown code is a 404. "
    f"Limited to {BALANCE_LIMIT_PER_USER} per user.",
)
async def check_balance(
    request: Request,
    body: GiftCardBalanceQuery,
    subject: Reader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[GiftCardBalanceOut]:
    await get_runtime(request).rate_limiter.check(
        BALANCE_LIMIT_PER_USER, "gift-card-balance", str(subject.id)
    )
    card = await GiftCardService(session, subject, restaurant).by_code(body.code)
    expired = is_expired(card)
    return ok(
        GiftCardBalanceOut(
            id=card.id,
            masked_code=mask(card.code),
            balance=to_major(card.balance_minor, card.currency),
            currency=card.currency,
            status=card.status,
            expires_at=card.expires_at,
            expired=expired,
            usable=card.status == "active" and not expired,
        )
    )


@gift_cards_router.get(
    "/{card_id}",
    response_model=Envelope[GiftCardDetailOut],
    summary="One gift card with its ledger (the entries sum to the balance)",
)
async def get_gift_card(
    card_id: uuid.UUID, subject: Reader, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[GiftCardDetailOut]:
    return ok(card_detail_out(await GiftCardService(session, subject, restaurant).get(card_id)))


@gift_cards_router.post(
    "/{card_id}/load",
    response_model=Envelope[GiftCardDetailOut],
    openapi_extra=idempotent(),
    summary="Add value to an active gift card",
    description="More than 0 and at most 10,000.00 per load. A disabled or expired card is a "
    "409 `gift_card_unusable`.",
)
async def load_gift_card(
    card_id: uuid.UUID,
    body: GiftCardLoad,
    subject: Manager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[GiftCardDetailOut]:
    view = await GiftCardService(session, subject, restaurant).load(card_id, body)
    return ok(card_detail_out(view))


@gift_cards_router.post(
    "/{card_id}/disable",
    response_model=Envelope[GiftCardDetailOut],
    openapi_extra=idempotent(),
    summary="Disable a gift card (lost, stolen, refunded), with a reason",
    description="The balance stays on record but can no longer be loaded or redeemed. "
    "Disabling a disabled card is a 409 `gift_card_already_disabled`.",
)
async def disable_gift_card(
    card_id: uuid.UUID,
    body: GiftCardDisable,
    subject: Manager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[GiftCardDetailOut]:
    view = await GiftCardService(session, subject, restaurant).disable(card_id, body)
    return ok(card_detail_out(view))


ROUTERS: list[APIRouter] = [gift_cards_router]
