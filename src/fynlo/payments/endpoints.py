"""``/api/payments``: the spec's payment endpoints (QR, Stripe, Apple Pay, cash, refund,
methods) plus Google Pay, gift cards, Razorpay/UPI, settlement and provider webhooks."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from fynlo.auth.subject import Subject, request_actor, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.config import Settings
from fynlo.kit.idempotency import HEADER as IDEMPOTENCY_HEADER
from fynlo.kit.idempotency import idempotent
from fynlo.kit.money import to_major
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import Order, Payment, PaymentRefund, QrPayment
from fynlo.payments import provider_webhooks, state
from fynlo.payments.methods import METHOD_LABELS, all_methods
from fynlo.payments.providers.registry import PaymentProviders
from fynlo.payments.qr import INSTRUCTIONS, QrService, page_url, qr_image
from fynlo.payments.refunds import RefundService
from fynlo.payments.schemas import (
    CardIn,
    CashIn,
    GiftCardTenderIn,
    MethodOut,
    PaymentOut,
    QrExtendIn,
    QrGenerateIn,
    QrGenerateOut,
    QrImageOut,
    QrStatusOut,
    RefundIn,
    RefundOut,
    SettlementLine,
    SettlementOut,
    UpiOrderIn,
    UpiOrderOut,
    UpiVerifyIn,
    WalletIn,
)
from fynlo.payments.service import PaymentService
from fynlo.payments.settlement import Line, settlement
from fynlo.runtime import get_runtime

payments_router = router(prefix="/api/payments", tags=["payments"])

Reader = Annotated[Subject, Depends(require_permission("payments.read"))]
Taker = Annotated[Subject, Depends(require_permission("payments.process"))]
Refunder = Annotated[Subject, Depends(require_permission("payments.refund"))]
Paging = Annotated[PageParams, Depends(page_params)]


async def get_providers(request: Request) -> PaymentProviders:
    providers = get_runtime(request).payment_providers
    assert providers is not None
    return providers


async def get_settings(request: Request) -> Settings:
    return get_runtime(request).settings


Providers = Annotated[PaymentProviders, Depends(get_providers)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _key(request: Request) -> str | None:
    return request.headers.get(IDEMPOTENCY_HEADER)


def payment_out(payment: Payment, order: Order | None = None) -> PaymentOut:
    c = payment.currency
    return PaymentOut(
        id=payment.id,
        order_id=payment.order_id,
        method=payment.method,
        provider=payment.provider,
        status=payment.status,
        currency=c,
        amount=to_major(payment.amount_minor, c),
        tip_amount=to_major(payment.tip_minor, c),
        fee_amount=to_major(payment.fee_minor, c),
        net_amount=to_major(payment.net_minor, c),
        refunded_amount=to_major(payment.refunded_minor, c),
        cash_received=to_major(payment.cash_received_minor, c)
        if payment.cash_received_minor is not None
        else None,
        change=to_major(payment.change_minor, c) if payment.change_minor is not None else None,
        transaction_id=payment.transaction_id,
        card_brand=payment.card_brand,
        last_4_digits=payment.last_4_digits,
        wallet=payment.wallet,
        requires_action=payment.status == "requires_action",
        client_secret=payment.client_secret if payment.status == "requires_action" else None,
        next_action=(payment.extra or {}).get("nextAction")
        if payment.status == "requires_action"
        else None,
        failure_code=payment.failure_code,
        failure_message=payment.failure_message,
        qr_payment_id=payment.qr_payment_id,
        split=payment.split,
        is_refundable=payment.is_refundable and payment.status in state.CAPTURED,
        order_payment_status=order.payment_status if order is not None else None,
        order_amount_due=to_major(state.owed(order), c) if order is not None else None,
        created_at=payment.created_at,
        completed_at=payment.completed_at,
    )


def _payments(permission: str) -> Callable[..., Awaitable[PaymentService]]:
    """Dependency: the payment service for a caller holding ``permission`` (checked before
    the restaurant is resolved, so a forbidden caller learns nothing of it)."""

    # A default, not an annotation: annotations are strings here, resolved against the
    # module's globals, where `permission` does not exist.
    caller = Depends(require_permission(permission))

    async def build(
        session: SessionDep,
        restaurant: CurrentRestaurant,
        providers: Providers,
        request: Request,
        subject: Subject = caller,
    ) -> PaymentService:
        return PaymentService(
            session, subject, restaurant, providers, idempotency_key=_key(request)
        )

    return build


def _qr(permission: str) -> Callable[..., Awaitable[QrService]]:
    caller = Depends(require_permission(permission))

    async def build(
        session: SessionDep,
        restaurant: CurrentRestaurant,
        providers: Providers,
        settings: SettingsDep,
        request: Request,
        subject: Subject = caller,
    ) -> QrService:
        return QrService(
            session,
            restaurant,
            subject.actor,
            settings,
            providers.bank,
            user_id=subject.id,
            idempotency_key=_key(request),
        )

    return build


ReadingPayments = Annotated[PaymentService, Depends(_payments("payments.read"))]
TakingPayments = Annotated[PaymentService, Depends(_payments("payments.process"))]
ReadingQr = Annotated[QrService, Depends(_qr("payments.read"))]
TakingQr = Annotated[QrService, Depends(_qr("payments.process"))]


# --- methods, listing, settlement (static paths before /{payment_id}) -------------------


@payments_router.get(
    "/methods",
    response_model=Envelope[list[MethodOut]],
    summary="The tenders this restaurant accepts, with their fees",
)
async def methods(
    subject: Reader, restaurant: CurrentRestaurant, providers: Providers
) -> Envelope[list[MethodOut]]:
    wired = {
        "card": providers.card is not None,
        "applePay": providers.card is not None,
        "googlePay": providers.card is not None,
        "upi": providers.upi is not None,
        "qrCode": providers.bank is not None,
    }
    return ok(
        [
            MethodOut(
                method=m.code,
                label=METHOD_LABELS[m.code],
                enabled=m.enabled,
                available=m.enabled and wired.get(m.code, True),
                fee_percentage=m.fee_percentage,
                fee_fixed=m.fee_fixed,
                requires_auth=m.requires_auth,
                currency=restaurant.currency,
            )
            for m in all_methods(restaurant)
        ]
    )


def _line(line: Line, currency: str) -> SettlementLine:
    return SettlementLine(
        method=line.method,
        count=line.count,
        gross=to_major(line.gross, currency),
        tips=to_major(line.tips, currency),
        fees=to_major(line.fees, currency),
        refunds=to_major(line.refunds, currency),
        net=to_major(line.net, currency),
    )


@payments_router.get(
    "/settlement",
    response_model=Envelope[SettlementOut],
    summary="Daily settlement per method: gross, tips, fees, refunds, net",
)
async def daily_settlement(
    subject: Reader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    day: Annotated[
        date, Query(alias="date", description="A business day in the restaurant's time zone")
    ],
) -> Envelope[SettlementOut]:
    result = await settlement(session, restaurant, day)
    c = result.currency
    return ok(
        SettlementOut(
            date=result.day.isoformat(),
            currency=c,
            time_zone=result.time_zone,
            methods=[_line(line, c) for line in result.lines],
            totals=_line(result.totals, c),
        )
    )


@payments_router.get("", response_model=Envelope[Page[PaymentOut]], summary="Payments")
async def list_payments(
    service: ReadingPayments,
    paging: Paging,
    order_id: Annotated[uuid.UUID | None, Query(alias="orderId")] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    method: Annotated[str | None, Query(max_length=20)] = None,
) -> Envelope[Page[PaymentOut]]:
    rows, total = await service.find(paging, order_id=order_id, status=status, method=method)
    return ok(Page[PaymentOut].build([payment_out(p) for p in rows], paging, total))


# --- tenders ---------------------------------------------------------------------------


@payments_router.post(
    "/cash/process",
    status_code=201,
    response_model=Envelope[PaymentOut],
    openapi_extra=idempotent(),
    summary="Take cash: the server computes the change and refuses too little cash",
)
async def cash(body: CashIn, service: TakingPayments) -> Envelope[PaymentOut]:
    payment, order = await service.cash(body)
    return ok(payment_out(payment, order))


@payments_router.post(
    "/stripe/process",
    status_code=201,
    response_model=Envelope[PaymentOut],
    openapi_extra=idempotent(),
    summary="Card payment through Stripe (PaymentIntent)",
    description="`status: requires_action` hands `clientSecret` and `nextAction` back for "
    "3-D Secure; completion then arrives by webhook or `POST /api/payments/{id}/refresh`. A "
    "decline is a 402 `payment_declined` (the attempt is kept). The `Idempotency-Key` goes "
    "on to Stripe, so a retry after a timeout never charges twice.",
)
async def stripe_card(body: CardIn, service: TakingPayments) -> Envelope[PaymentOut]:
    payment, order = await service.card(body)
    return ok(payment_out(payment, order))


@payments_router.post(
    "/applepay/process",
    status_code=201,
    response_model=Envelope[PaymentOut],
    openapi_extra=idempotent(),
    summary="Apple Pay through Stripe (`paymentData`: the wallet's Stripe token)",
)
async def apple_pay(body: WalletIn, service: TakingPayments) -> Envelope[PaymentOut]:
    payment, order = await service.wallet(body, "applePay")
    return ok(payment_out(payment, order))


@payments_router.post(
    "/googlepay/process",
    status_code=201,
    response_model=Envelope[PaymentOut],
    openapi_extra=idempotent(),
    summary="Google Pay through Stripe",
)
async def google_pay(body: WalletIn, service: TakingPayments) -> Envelope[PaymentOut]:
    payment, order = await service.wallet(body, "googlePay")
    return ok(payment_out(payment, order))


@payments_router.post(
    "/giftcard/process",
    status_code=201,
    response_model=Envelope[PaymentOut],
    openapi_extra=idempotent(),
    summary="Redeem a gift card as a tender (never below a zero balance)",
)
async def gift_card(body: GiftCardTenderIn, service: TakingPayments) -> Envelope[PaymentOut]:
    payment, order = await service.gift_card(body)
    return ok(payment_out(payment, order))


@payments_router.post(
    "/razorpay/order",
    status_code=201,
    response_model=Envelope[UpiOrderOut],
    openapi_extra=idempotent(),
    summary="UPI / Razorpay: create the Razorpay order the checkout pays",
)
async def razorpay_order(body: UpiOrderIn, service: TakingPayments) -> Envelope[UpiOrderOut]:
    payment, order, key_id = await service.upi_order(body)
    assert payment.provider_order_id is not None
    return ok(
        UpiOrderOut(
            payment=payment_out(payment, order),
            razorpay_order_id=payment.provider_order_id,
            key_id=key_id,
            amount_minor=payment.amount_minor + payment.tip_minor,
            currency=payment.currency,
        )
    )


@payments_router.post(
    "/razorpay/verify",
    response_model=Envelope[PaymentOut],
    openapi_extra=idempotent(),
    summary="UPI / Razorpay: verify the checkout's signature and record the payment",
)
async def razorpay_verify(body: UpiVerifyIn, service: TakingPayments) -> Envelope[PaymentOut]:
    payment, order = await service.upi_verify(body)
    return ok(payment_out(payment, order))


# --- QR payments ---------------------------------------------------------------------


@payments_router.post(
    "/qr/generate",
    status_code=201,
    response_model=Envelope[QrGenerateOut],
    openapi_extra=idempotent(),
    summary="Generate a QR payment (open banking) for what the order owes",
    description="`qrCodeData` is `FYNLO-PAY:` + a signed payload (a changed amount or "
    "reference fails verification). The image (SVG/PNG) encodes `paymentUrl`, the customer's "
    "payment page. Expires after 15 minutes by default.",
)
async def qr_generate(
    body: QrGenerateIn, service: TakingQr, settings: SettingsDep
) -> Envelope[QrGenerateOut]:
    qr = await service.generate(body)
    c = qr.currency
    base = f"/api/payments/qr/{qr.id}"
    return ok(
        QrGenerateOut(
            qr_payment_id=qr.id,
            qr_code_data=qr.qr_code_data,
            amount=to_major(qr.amount_minor, c),
            tip_amount=to_major(qr.tip_minor, c),
            fee_amount=to_major(qr.fee_minor, c),
            net_amount=to_major(qr.net_minor, c),
            currency=c,
            expires_at=qr.expires_at,
            payment_url=page_url(settings, qr.reference),
            image_svg_url=f"{base}/image?format=svg",
            image_png_url=f"{base}/image?format=png",
            instructions=INSTRUCTIONS,
        )
    )


async def qr_status_out(service: QrService, qr: QrPayment) -> QrStatusOut:
    payment = await service.payment_of(qr)
    return QrStatusOut(
        qr_payment_id=qr.id,
        order_id=qr.order_id,
        status=qr.status,
        paid_at=qr.paid_at,
        bank_reference=qr.customer_bank_reference,
        amount=to_major(qr.amount_minor, qr.currency),
        currency=qr.currency,
        expires_at=qr.expires_at,
        late_outcome=qr.late_outcome,
        payment_id=payment.id if payment else None,
    )


@payments_router.get(
    "/qr/{qr_payment_id}/status",
    response_model=Envelope[QrStatusOut],
    openapi_extra={"x-fynlo-writes": True},
    summary="Where a QR payment stands (a pending one past its time reads as expired)",
)
async def qr_status(qr_payment_id: uuid.UUID, service: ReadingQr) -> Envelope[QrStatusOut]:
    qr = await service.status(qr_payment_id)
    return ok(await qr_status_out(service, qr))


@payments_router.post(
    "/qr/{qr_payment_id}/cancel",
    response_model=Envelope[QrStatusOut],
    openapi_extra=idempotent(),
    summary="Cancel a pending QR payment",
)
async def qr_cancel(qr_payment_id: uuid.UUID, service: TakingQr) -> Envelope[QrStatusOut]:
    qr = await service.cancel(qr_payment_id)
    return ok(await qr_status_out(service, qr))


@payments_router.post(
    "/qr/{qr_payment_id}/extend",
    response_model=Envelope[QrStatusOut],
    openapi_extra=idempotent(),
    summary="Give a pending QR payment more time (body `minutes`, default 15)",
)
async def qr_extend(
    qr_payment_id: uuid.UUID, service: TakingQr, body: QrExtendIn | None = None
) -> Envelope[QrStatusOut]:
    qr = await service.extend(qr_payment_id, (body or QrExtendIn()).minutes)
    return ok(await qr_status_out(service, qr))


@payments_router.get(
    "/qr/{qr_payment_id}/image",
    response_model=Envelope[QrImageOut],
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
    summary="The QR code (it holds the customer's payment page URL): SVG, PNG or both as JSON",
)
async def qr_image_file(
    qr_payment_id: uuid.UUID,
    service: ReadingQr,
    settings: SettingsDep,
    image_format: Annotated[Literal["json", "svg", "png"], Query(alias="format")] = "json",
) -> Response | Envelope[QrImageOut]:
    qr = await service.get(qr_payment_id)
    url = page_url(settings, qr.reference)
    if image_format == "svg":
        return Response(qr_image(url, "svg"), media_type="image/svg+xml")
    if image_format == "png":
        return Response(qr_image(url, "png"), media_type="image/png")
    return ok(
        QrImageOut(
            payment_url=url,
            svg=qr_image(url, "svg").decode(),
            png_base64=base64.b64encode(qr_image(url, "png")).decode(),
        )
    )


# --- provider webhooks (signed, no bearer token) --------------------------------------


async def _webhook(
    source: provider_webhooks.Source,
    request: Request,
    session: SessionDep,
    providers: PaymentProviders,
    settings: Settings,
) -> Envelope[dict[str, str]]:
    body = await request.body()
    outcome = await provider_webhooks.handle(
        session,
        providers,
        source,
        body,
        dict(request.headers),
        request_actor(request),
        settings=settings,
    )
    return ok({"outcome": outcome})


@payments_router.post(
    "/webhooks/{source}",
    response_model=Envelope[dict[str, str]],
    summary="Provider webhooks: `stripe`, `razorpay`, `bank` (the QR provider)",
    description="Verified with the provider's signature on the raw body (400 and no change "
    "otherwise) and recorded once per provider event id: a redelivery answers 200 with "
    "`outcome: duplicate`. An event older than the payment's state is recorded as `stale`.",
)
async def provider_webhook(
    source: provider_webhooks.Source,
    request: Request,
    session: SessionDep,
    providers: Providers,
    settings: SettingsDep,
) -> Envelope[dict[str, str]]:
    return await _webhook(source, request, session, providers, settings)


@payments_router.post(
    "/qr/webhook",
    response_model=Envelope[dict[str, str]],
    summary="The QR (open-banking) provider's webhook: the same as /webhooks/bank",
)
async def qr_webhook(
    request: Request, session: SessionDep, providers: Providers, settings: SettingsDep
) -> Envelope[dict[str, str]]:
    return await _webhook("bank", request, session, providers, settings)


# --- one payment ---------------------------------------------------------------------


@payments_router.get("/{payment_id}", response_model=Envelope[PaymentOut], summary="One payment")
async def get_payment(payment_id: uuid.UUID, service: ReadingPayments) -> Envelope[PaymentOut]:
    payment = await service.get(payment_id)
    return ok(payment_out(payment, await service.order_of(payment)))


@payments_router.post(
    "/{payment_id}/refresh",
    response_model=Envelope[PaymentOut],
    summary="Ask the provider where an in-flight payment stands (after 3-D Secure)",
)
async def refresh_payment(payment_id: uuid.UUID, service: TakingPayments) -> Envelope[PaymentOut]:
    payment, order = await service.refresh(payment_id)
    return ok(payment_out(payment, order))


@payments_router.post(
    "/{payment_id}/cancel",
    response_model=Envelope[PaymentOut],
    openapi_extra=idempotent(),
    summary="Give up an in-flight payment (it stops holding the order's balance)",
)
async def cancel_payment(payment_id: uuid.UUID, service: TakingPayments) -> Envelope[PaymentOut]:
    payment, order = await service.cancel(payment_id)
    return ok(payment_out(payment, order))


@payments_router.post(
    "/{payment_id}/refund",
    status_code=201,
    response_model=Envelope[RefundOut],
    openapi_extra=idempotent(),
    summary="Refund a payment, fully or in part, to its original tender",
    description="Card, QR and UPI go back through the provider (with the Idempotency-Key "
    "passed on), cash out of the open drawer, gift cards back onto the card. By items, the "
    "amount is their share of what was charged; `restock` puts them back in stock. Never "
    "more than was paid, also under concurrent refunds.",
)
async def refund_payment(
    payment_id: uuid.UUID,
    body: RefundIn,
    subject: Refunder,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    providers: Providers,
    request: Request,
) -> Envelope[RefundOut]:
    service = RefundService(session, subject, restaurant, providers, idempotency_key=_key(request))
    refund, payment = await service.refund(payment_id, body)
    order = await service.payments.order_of(payment)
    return ok(refund_out(refund, payment, order))


def refund_out(refund: PaymentRefund, payment: Payment, order: Order) -> RefundOut:
    return RefundOut(
        id=refund.id,
        payment_id=refund.payment_id,
        order_id=refund.order_id,
        method=refund.method,
        status=refund.status,
        currency=refund.currency,
        amount=to_major(refund.amount_minor, refund.currency),
        reason=refund.reason,
        items=list(refund.items),
        restock=refund.restock,
        provider_refund_id=refund.provider_refund_id,
        created_at=refund.created_at,
        payment=payment_out(payment, order),
    )


ROUTERS = [payments_router]
