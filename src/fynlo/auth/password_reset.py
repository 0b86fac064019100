"""``/api/auth/forgot-password`` and ``/api/auth/reset-password``: a single-use e-mailed link.

* Forgot-password answers the same 200 whether or not the address is registered and active,
  and sends the message from a background task once the transaction has committed, so
  neither the body nor the response time tells an attacker which addresses exist.
* Only the SHA-256 of the reset token is stored; the token lives 30 minutes and is spent by
  the first successful reset (the row is locked while it is checked and marked used).
* A reset sets the new password, clears the lockout, spends every other outstanding reset
  token of the account and revokes all its sessions (refresh tokens and access tokens).

The mailer is ``app.state.mailer`` when the application (or a test) has set one; otherwise
it is built once from settings with :func:`fynlo.mail.mailer_from_settings` (SMTP when
``FYNLO_SMTP_HOST`` is set, the log otherwise) and kept on ``app.state.mailer``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Request
from pydantic import EmailStr, Field
from sqlalchemy import select, update

from fynlo.audit.service import AuditActor, record
from fynlo.auth.crypto import random_token, sha256_hex
from fynlo.auth.endpoints import AuthServiceDep
from fynlo.auth.subject import request_actor
from fynlo.config import Settings
from fynlo.db.types import utc_now
from fynlo.identity.policy import (
    MAX_PASSWORD_LENGTH,
    PasswordPolicyError,
    check_password_policy,
)
from fynlo.kit.errors import BadRequest, Unprocessable
from fynlo.kit.routing import client_ip, router
from fynlo.kit.schemas import Envelope, RequestSchema, Schema, ok
from fynlo.kit.unit_of_work import SessionDep, UnitOfWorkDep
from fynlo.mail import Mailer, mailer_from_settings
from fynlo.mail.queue import deliver_soon, enqueue
from fynlo.models import PasswordResetToken, User
from fynlo.runtime import get_runtime

log = structlog.get_logger(__name__)

password_router = router(prefix="/api/auth", tags=["auth"])

RESET_TOKEN_TTL = timedelta(minutes=30)
FORGOT_LIMIT_PER_IP = "20/15minutes"
FORGOT_LIMIT_PER_EMAIL = "5/15minutes"
RESET_LIMIT_PER_IP = "20/15minutes"
FORGOT_ANSWER = "If that e-mail is registered, a reset link is on its way."
RESET_ANSWER = "Your password has been changed; sign in with the new password."
RESET_SUBJECT = "Reset your Fynlo password"


class InvalidResetToken(BadRequest):
    code = "invalid_reset_token"
    default_message = (
        "This password reset link is invalid, has expired or was already used; ask for a new one"
    )


class ForgotPasswordIn(RequestSchema):
    email: EmailStr


class ResetPasswordIn(RequestSchema):
    token: str = Field(min_length=1, max_length=256)
    new_password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class MessageOut(Schema):
    message: str


async def get_mailer(request: Request) -> Mailer:
    """``app.state.mailer`` if set (tests point it at a local SMTP sink), else from settings."""
    mailer: Mailer | None = getattr(request.app.state, "mailer", None)
    if mailer is None:
        mailer = mailer_from_settings(get_runtime(request).settings)
        request.app.state.mailer = mailer
    return mailer


MailerDep = Annotated[Mailer, Depends(get_mailer)]


def reset_link(settings: Settings, token: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/reset-password?token={token}"


def _reset_body(user: User, link: str, token: str) -> str:
    minutes = int(RESET_TOKEN_TTL.total_seconds() // 60)
    return (
        f"Hello {user.first_name},\n\n"
        f"Someone (hopefully you) asked to reset the password of the Fynlo account "
        f"{user.email}.\n\n"
        f"Open this link within {minutes} minutes to choose a new password:\n\n"
        f"{link}\n\n"
        f"or enter this reset code in the app:\n\n"
        f"{token}\n\n"
        "The link works once. If you did not ask for this, ignore this e-mail: your "
        "password stays as it is.\n"
    )


@password_router.post(
    "/forgot-password",
    response_model=Envelope[MessageOut],
    summary="E-mail a password reset link",
    description="Always answers the same 200, whether or not the address is registered, so "
    "the answer cannot be used to find accounts. A registered, active account receives a "
    f"link valid for {int(RESET_TOKEN_TTL.total_seconds() // 60)} minutes, usable once. "
    f"Limited to {FORGOT_LIMIT_PER_EMAIL} per address and {FORGOT_LIMIT_PER_IP} per client "
    "address (429 with `Retry-After`).",
)
async def forgot_password(
    body: ForgotPasswordIn,
    request: Request,
    session: SessionDep,
    uow: UnitOfWorkDep,
    mailer: MailerDep,
) -> Envelope[MessageOut]:
    runtime = get_runtime(request)
    settings = runtime.settings
    email = body.email.strip().lower()
    message = "Too many password reset requests; wait and retry"
    await runtime.rate_limiter.check(
        FORGOT_LIMIT_PER_IP, "forgot-ip", client_ip(request), message=message
    )
    await runtime.rate_limiter.check(FORGOT_LIMIT_PER_EMAIL, "forgot-email", email, message=message)

    actor = request_actor(request)
    user = await session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        await record(
            session,
            actor,
            action="auth.password_reset_requested",
            resource_type="user",
            resource_id=user.id if user else None,
            restaurant_id=user.restaurant_id if user else None,
            new={"email": email, "sent": False, "reason": "inactive" if user else "unknown"},
        )
        return ok(MessageOut(message=FORGOT_ANSWER))

    token = random_token()
    expires_at = utc_now() + RESET_TOKEN_TTL
    session.add(
        PasswordResetToken(
            id=uuid.uuid4(), user_id=user.id, token_hash=sha256_hex(token), expires_at=expires_at
        )
    )
    await record(
        session,
        AuditActor(user.id, actor.ip_address, actor.user_agent),
        action="auth.password_reset_requested",
        resource_type="user",
        resource_id=user.id,
        restaurant_id=user.restaurant_id,
        new={"email": email, "sent": True, "expiresAt": expires_at.isoformat()},
    )
    # Queued in this transaction (no mail for a rolled-back request, none lost to an SMTP
    # outage) and sent after the commit in the background: the answer must not wait on
    # SMTP, or its timing would tell a registered address from an unknown one.
    mail_id = enqueue(
        session,
        sender=settings.mail_from,
        to=user.email,
        subject=RESET_SUBJECT,
        body=_reset_body(user, reset_link(settings, token), token),
    )
    sessionmaker = get_runtime(request).sessionmaker

    async def send_after_commit() -> None:
        deliver_soon(sessionmaker, mailer, [mail_id])

    uow.after_commit(send_after_commit)
    return ok(MessageOut(message=FORGOT_ANSWER))


@password_router.post(
    "/reset-password",
    response_model=Envelope[MessageOut],
    summary="Choose a new password with a reset token",
    description="The token from the e-mailed link must be unused and unexpired (else 400 "
    "`invalid_reset_token`); the password must meet the policy (else 422 naming "
    "`newPassword`). Success spends the token, clears any lockout and signs the account out "
    "everywhere (all refresh and access tokens stop working).",
)
async def reset_password(
    body: ResetPasswordIn, request: Request, session: SessionDep, service: AuthServiceDep
) -> Envelope[MessageOut]:
    runtime = get_runtime(request)
    await runtime.rate_limiter.check(
        RESET_LIMIT_PER_IP,
        "reset-ip",
        client_ip(request),
        message="Too many password reset attempts; wait and retry",
    )
    now = utc_now()
    row = (
        await session.execute(
            select(PasswordResetToken)
            .where(PasswordResetToken.token_hash == sha256_hex(body.token))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise InvalidResetToken()
    user = await session.get(User, row.user_id, with_for_update=True)
    if user is None or not user.is_active:
        raise InvalidResetToken()
    try:
        check_password_policy(body.new_password, email=user.email)
    except PasswordPolicyError as exc:
        raise Unprocessable(
            f"Invalid request: newPassword: {exc}",
            details=[
                {
                    "field": "newPassword",
                    "location": "body",
                    "message": str(exc),
                    "type": "password_policy",
                }
            ],
        ) from exc

    row.used_at = now
    # Any other link still in someone's inbox dies with this reset.
    await session.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.user_id == user.id,
            PasswordResetToken.id != row.id,
            PasswordResetToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    await service.set_password(user, body.new_password)
    user.failed_login_count = 0
    user.locked_until = None
    await service.revoke_all(user, "password_reset")
    actor = request_actor(request, user.id)
    await record(
        session,
        actor,
        action="auth.password_reset",
        resource_type="user",
        resource_id=user.id,
        restaurant_id=user.restaurant_id,
        new={"tokenId": str(row.id)},
    )
    log.info("password_reset", user_id=str(user.id))
    return ok(MessageOut(message=RESET_ANSWER))
