"""Pages for people, not tills: the customer's QR payment page (what the QR code opens) and,
in development, the sandbox bank's approval page that stands in for the customer's bank."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from fynlo.auth.subject import request_actor
from fynlo.db.types import utc_now
from fynlo.kit.errors import ResourceNotFound, Unprocessable
from fynlo.kit.money import to_major
from fynlo.kit.routing import router
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import QrPayment, Restaurant
from fynlo.payments import provider_webhooks
from fynlo.payments.endpoints import Providers, SettingsDep
from fynlo.payments.providers.sandbox_bank import SandboxBank

pages_router = router(prefix="", tags=["payment pages"], include_in_schema=False)

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}
.amount{font-size:2.4rem;font-weight:700;margin:.5rem 0}.muted{color:#666}
.button{display:inline-block;padding:.8rem 1.4rem;border-radius:.5rem;border:0;font-size:1rem;
background:#0a6;color:#fff;text-decoration:none;cursor:pointer;margin:.3rem}
.decline{background:#b33}.status{font-weight:600;text-transform:capitalize}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


async def _by_reference(session: SessionDep, reference: str) -> tuple[QrPayment, Restaurant]:
    qr = await session.scalar(select(QrPayment).where(QrPayment.reference == reference))
    if qr is None:
        raise ResourceNotFound("Payment", reference)
    restaurant = await session.get(Restaurant, qr.restaurant_id)
    assert restaurant is not None
    return qr, restaurant


@pages_router.get("/pay/{reference}", response_class=HTMLResponse)
async def customer_page(reference: str, session: SessionDep) -> HTMLResponse:
    """What the customer's phone opens from the QR code: who is asking for how much, and a
    button to their bank. The reference is the bearer secret (64 random bits)."""
    qr, restaurant = await _by_reference(session, reference)
    status = qr.status
    if status == "pending" and qr.expires_at <= utc_now():
        status = "expired"
    amount = f"{to_major(qr.amount_minor, qr.currency)} {qr.currency}"
    parts = [
        f"<p class=muted>{html.escape(restaurant.name)}</p>",
        f"<div class=amount>{html.escape(amount)}</div>",
        f"<p>Status: <span class=status id=status>{html.escape(status)}</span></p>",
    ]
    if status == "pending" and qr.authorisation_url:
        parts.append(
            f"<p class=muted>Reference {html.escape(qr.reference)} · expires "
            f"{qr.expires_at.strftime('%H:%M UTC')}</p>"
            f"<a class=button id=pay href='{html.escape(qr.authorisation_url)}'>"
            "Pay with your bank</a>"
        )
    elif status == "completed":
        parts.append("<p>Thank you: the payment has been received.</p>")
    return _page(f"Pay {restaurant.name}", "".join(parts))


def _sandbox(providers: Providers) -> SandboxBank:
    bank = providers.bank
    if not isinstance(bank, SandboxBank):
        raise ResourceNotFound("Sandbox bank", "sandbox-bank")
    return bank


@pages_router.get("/sandbox-bank/authorise/{payment_id}", response_class=HTMLResponse)
async def sandbox_authorise(payment_id: str, providers: Providers) -> HTMLResponse:
    described = _sandbox(providers).describe(payment_id)
    if described is None:
        raise ResourceNotFound("Sandbox bank payment", payment_id)
    payment, reference, description = described
    amount = f"{to_major(payment.amount_minor or 0, payment.currency or 'GBP')} {payment.currency}"
    return _page(
        "Sandbox bank",
        "<p class=muted>Sandbox bank: no real money moves</p>"
        f"<p>{html.escape(description)}</p><div class=amount>{html.escape(amount)}</div>"
        f"<p class=muted>Reference {html.escape(reference)}</p>"
        f"<p>Status: <span class=status>{html.escape(payment.status)}</span></p>"
        f"<form method=post><button class=button name=decision value=approve>Approve</button>"
        "<button class='button decline' name=decision value=decline>Decline</button></form>",
    )


@pages_router.post("/sandbox-bank/authorise/{payment_id}")
async def sandbox_decide(
    payment_id: str,
    request: Request,
    session: SessionDep,
    providers: Providers,
    settings: SettingsDep,
) -> RedirectResponse:
    """The person playing the bank decides. The bank's webhook goes through the same
    signature check and handler as ``POST /api/payments/webhooks/bank``, in process."""
    bank = _sandbox(providers)
    described = bank.describe(payment_id)
    if described is None:
        raise ResourceNotFound("Sandbox bank payment", payment_id)
    form = parse_qs((await request.body()).decode(errors="replace"))
    decision = (form.get("decision") or [""])[0]
    if decision not in ("approve", "decline"):
        raise Unprocessable(
            "decision must be approve or decline",
            details=[{"field": "decision", "message": "approve or decline"}],
        )
    body, headers = bank.decide(payment_id, approve=decision == "approve")
    await provider_webhooks.handle(
        session,
        providers,
        "bank",
        body,
        headers,
        request_actor(request),
        settings=settings,
    )
    return RedirectResponse(f"/pay/{described[1]}", status_code=303)


ROUTERS = [pages_router]
