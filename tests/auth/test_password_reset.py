"""Forgot-password and reset-password against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import structlog
from aiosmtpd.controller import Controller
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.app import create_app
from fynlo.auth.crypto import sha256_hex
from fynlo.auth.password_reset import FORGOT_ANSWER, password_router
from fynlo.config import Settings
from fynlo.db.types import utc_now
from fynlo.mail import (
    LogMailer,
    SmtpMailer,
    build_message,
    mailer_from_settings,
    wait_for_pending_mail,
)
from fynlo.models import AuditLog, PasswordResetToken, User
from fynlo.runtime import Runtime
from tests.conftest import free_port, make_client
from tests.factories import DEFAULT_PASSWORD, create_restaurant, create_user

NEW_PASSWORD = "Brand-New-Secret-2024"


class SinkHandler:
    """Collects every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.recipients.clear()


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[tuple[SinkHandler, int]]:
    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
async def reset_app(
    settings: Settings, engine: AsyncEngine, smtp_sink: tuple[SinkHandler, int]
) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    application.include_router(password_router)
    application.state.mailer = SmtpMailer(host="127.0.0.1", port=smtp_sink[1], starttls=False)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def api(
    reset_app: FastAPI, smtp_sink: tuple[SinkHandler, int]
) -> AsyncIterator[httpx.AsyncClient]:
    runtime: Runtime = reset_app.state.runtime
    await runtime.rate_limiter.reset()
    smtp_sink[0].clear()
    async with make_client(reset_app) as c:
        yield c
    await wait_for_pending_mail()


@pytest.fixture
def sink(smtp_sink: tuple[SinkHandler, int]) -> SinkHandler:
    return smtp_sink[0]


async def _user(session: AsyncSession, **values: Any) -> User:
    restaurant = await create_restaurant(session)
    user = await create_user(session, restaurant=restaurant, **values)
    await session.commit()
    return user


async def _request_link(api: httpx.AsyncClient, sink: SinkHandler, address: str) -> str:
    response = await api.post("/api/auth/forgot-password", json={"email": address})
    assert response.status_code == 200, response.text
    await wait_for_pending_mail()
    assert len(sink.messages) == 1
    body = sink.messages[-1].get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    links = re.findall(r"https?://\S+/reset-password\?token=\S+", text)
    assert len(links) == 1, text
    token: str = parse_qs(urlparse(links[0]).query)["token"][0]
    assert token in text.replace(links[0], "")  # the code is also given on its own
    return token


async def _login(api: httpx.AsyncClient, address: str, password: str) -> httpx.Response:
    return await api.post("/api/auth/login", json={"email": address, "password": password})


async def test_reset_link_changes_password_once_and_signs_out_everywhere(
    api: httpx.AsyncClient,
    sink: SinkHandler,
    session: AsyncSession,
    settings: Settings,
) -> None:
    user = await _user(session)
    login = await _login(api, user.email, DEFAULT_PASSWORD)
    assert login.status_code == 200, login.text
    old_refresh = login.json()["data"]["tokens"]["refresh"]

    token = await _request_link(api, sink, user.email.upper())
    message = sink.messages[0]
    assert message["To"] == user.email
    assert sink.recipients[0] == [user.email]
    assert message["From"] == settings.mail_from
    assert f"{settings.public_base_url}/reset-password?token={token}" in message.get_content()
    stored = (await session.scalars(select(PasswordResetToken))).all()
    assert [row.token_hash for row in stored] == [sha256_hex(token)]  # never the token itself
    assert stored[0].expires_at - utc_now() > timedelta(minutes=29)

    # A lockout in progress is cleared by the reset.
    await session.refresh(user)
    user.failed_login_count, user.locked_until = 3, utc_now() + timedelta(minutes=10)
    await session.commit()

    response = await api.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True

    again = await api.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": "Another-Secret-99"}
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_reset_token"
    assert "ask for a new one" in again.json()["error"]["message"]

    assert (await _login(api, user.email, DEFAULT_PASSWORD)).status_code == 401
    fresh = await _login(api, user.email, NEW_PASSWORD)
    assert fresh.status_code == 200, fresh.text

    refreshed = await api.post("/api/auth/refresh", json={"refreshToken": old_refresh})
    assert refreshed.status_code == 401
    old_access = login.json()["data"]["tokens"]["access"]
    logout = await api.post("/api/auth/logout", headers={"Authorization": f"Bearer {old_access}"})
    assert logout.status_code == 401

    await session.refresh(user)
    assert user.failed_login_count == 0
    assert user.token_version >= 1
    actions = set(await session.scalars(select(AuditLog.action)))
    assert {"auth.password_reset_requested", "auth.password_reset"} <= actions


async def test_unknown_and_inactive_addresses_get_the_same_answer_and_no_mail(
    api: httpx.AsyncClient, sink: SinkHandler, session: AsyncSession
) -> None:
    known = await _user(session)
    inactive = await _user(session, is_active=False)
    answers = []
    for address in (known.email, "nobody-here@fynlo-test.com", inactive.email):
        response = await api.post("/api/auth/forgot-password", json={"email": address})
        assert response.status_code == 200
        answers.append(response.json())
    assert answers[0] == answers[1] == answers[2]
    assert answers[0] == {"success": True, "data": {"message": FORGOT_ANSWER}}
    await wait_for_pending_mail()
    assert [m["To"] for m in sink.messages] == [known.email]
    tokens = (await session.scalars(select(PasswordResetToken))).all()
    assert [t.user_id for t in tokens] == [known.id]


async def test_expired_token_is_refused(api: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await _user(session)
    token = "expired-" + uuid.uuid4().hex
    session.add(
        PasswordResetToken(
            user_id=user.id,
            token_hash=sha256_hex(token),
            expires_at=utc_now() - timedelta(seconds=1),
        )
    )
    await session.commit()
    response = await api.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_reset_token"
    assert (await _login(api, user.email, DEFAULT_PASSWORD)).status_code == 200


async def test_unknown_token_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/auth/reset-password", json={"token": "not-a-real-token", "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_reset_token"


@pytest.mark.parametrize("weak", ["short1!", "aaaaaaaaaaaaaaaa", "x" * 129])
async def test_weak_password_is_422_naming_new_password_and_keeps_the_token(
    api: httpx.AsyncClient, sink: SinkHandler, session: AsyncSession, weak: str
) -> None:
    user = await _user(session)
    token = await _request_link(api, sink, user.email)
    response = await api.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": weak}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["newPassword"]
    assert "newPassword" in error["message"]
    # The refusal spent nothing: the same link still works.
    ok = await api.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": NEW_PASSWORD}
    )
    assert ok.status_code == 200, ok.text


async def test_password_containing_the_email_name_is_refused(
    api: httpx.AsyncClient, sink: SinkHandler, session: AsyncSession
) -> None:
    user = await _user(session)
    token = await _request_link(api, sink, user.email)
    local = user.email.split("@")[0]
    response = await api.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": f"{local}-Secret-77"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "newPassword"


@pytest.mark.parametrize(
    ("path", "payload", "fields"),
    [
        ("/api/auth/forgot-password", {}, ["email"]),
        ("/api/auth/forgot-password", {"email": 42}, ["email"]),
        ("/api/auth/forgot-password", {"email": "not-an-email"}, ["email"]),
        ("/api/auth/forgot-password", {"email": "a@fynlo-test.com", "role": "x"}, ["role"]),
        ("/api/auth/reset-password", {}, ["token", "newPassword"]),
        ("/api/auth/reset-password", {"token": "abc"}, ["newPassword"]),
        ("/api/auth/reset-password", {"token": 5, "newPassword": ["x"]}, ["token", "newPassword"]),
        ("/api/auth/reset-password", {"token": "", "newPassword": NEW_PASSWORD}, ["token"]),
        (
            "/api/auth/reset-password",
            {"token": "abc", "newPassword": NEW_PASSWORD, "userId": str(uuid.uuid4())},
            ["userId"],
        ),
    ],
)
async def test_malformed_bodies_are_422(
    api: httpx.AsyncClient, path: str, payload: dict[str, Any], fields: list[str]
) -> None:
    response = await api.post(path, json=payload)
    assert response.status_code == 422, response.text
    assert sorted(d["field"] for d in response.json()["error"]["details"]) == sorted(fields)


async def test_forgot_password_is_rate_limited_per_address(
    api: httpx.AsyncClient, sink: SinkHandler, session: AsyncSession
) -> None:
    user = await _user(session)
    for _ in range(5):
        response = await api.post("/api/auth/forgot-password", json={"email": user.email})
        assert response.status_code == 200
    limited = await api.post("/api/auth/forgot-password", json={"email": user.email})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in limited.headers
    # An unknown address is limited the same way, so the 429 reveals nothing either.
    for _ in range(5):
        await api.post("/api/auth/forgot-password", json={"email": "ghost@fynlo-test.com"})
    ghost = await api.post("/api/auth/forgot-password", json={"email": "ghost@fynlo-test.com"})
    assert ghost.status_code == 429
    await wait_for_pending_mail()
    assert len(sink.messages) == 5


async def test_a_reset_spends_the_accounts_other_links(
    api: httpx.AsyncClient, sink: SinkHandler, session: AsyncSession
) -> None:
    user = await _user(session)
    first = await _request_link(api, sink, user.email)
    sink.clear()
    second = await _request_link(api, sink, user.email)
    assert first != second
    response = await api.post(
        "/api/auth/reset-password", json={"token": second, "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 200
    stale = await api.post(
        "/api/auth/reset-password", json={"token": first, "newPassword": "Other-Secret-123"}
    )
    assert stale.status_code == 400


def test_mailer_from_settings(settings: Settings) -> None:
    assert isinstance(
        mailer_from_settings(settings.model_copy(update={"smtp_host": None})), LogMailer
    )
    smtp = mailer_from_settings(
        settings.model_copy(
            update={
                "smtp_host": "mail.example.com",
                "smtp_port": 2525,
                "smtp_username": "fynlo",
                "smtp_password": Settings.model_fields["jwt_secret"].default,
                "smtp_starttls": False,
            }
        )
    )
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.host, smtp.port, smtp.username, smtp.starttls) == (
        "mail.example.com",
        2525,
        "fynlo",
        False,
    )
    assert smtp.password is not None
    assert smtp.password not in repr(smtp)


async def test_log_mailer_logs_recipient_subject_and_body() -> None:
    message = build_message(
        sender="a@fynlo-test.com", to="b@fynlo-test.com", subject="Hi", body="click here\n"
    )
    with structlog.testing.capture_logs() as logs:
        await LogMailer().send(message)
        await LogMailer(log_body=False).send(message)
    assert logs[0]["to"] == "b@fynlo-test.com"
    assert logs[0]["subject"] == "Hi"
    assert logs[0]["body"] == "click here\n"
    assert logs[0]["log_level"] == "info"
    assert "body" not in logs[1]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_mailer_logs_in(smtp_sink: tuple[SinkHandler, int]) -> None:
    handler = SinkHandler()
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        seen.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret")

    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        mailer = SmtpMailer(
            host="127.0.0.1", port=port, username="fynlo", password="s3cret", starttls=False
        )
        await mailer.send(
            build_message(sender="a@fynlo-test.com", to="b@fynlo-test.com", subject="S", body="B")
        )
    finally:
        controller.stop()
    assert seen == [(b"fynlo", b"s3cret")]
    assert [m["Subject"] for m in handler.messages] == ["S"]


# --- the mail queue ---------------------------------------------------------------------


async def test_mail_waits_in_the_queue_through_an_smtp_outage_then_goes(
    reset_app: FastAPI, smtp_sink: tuple[SinkHandler, int], session: AsyncSession
) -> None:
    from fynlo.mail.queue import deliver_due, enqueue, retry_delay
    from fynlo.models import OutgoingMail

    sink, port = smtp_sink
    sink.clear()
    sessionmaker = reset_app.state.runtime.sessionmaker
    async with sessionmaker() as writer, writer.begin():
        mail_id = enqueue(writer, sender="a@fynlo.test", to="b@fynlo.test", subject="S", body="B")
    down = SmtpMailer(host="127.0.0.1", port=free_port(), starttls=False, timeout=2)
    assert await deliver_due(sessionmaker, down) == 0
    await session.commit()
    row = await session.get(OutgoingMail, mail_id)
    assert row is not None
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None
    assert row.next_attempt_at > utc_now() + retry_delay(1) - timedelta(seconds=5)
    # Not due yet: nothing is sent even with the server back.
    up = SmtpMailer(host="127.0.0.1", port=port, starttls=False)
    assert await deliver_due(sessionmaker, up) == 0
    row.next_attempt_at = utc_now() - timedelta(seconds=1)
    await session.commit()
    assert await deliver_due(sessionmaker, up) == 1
    await session.refresh(row)
    assert (row.status, row.attempts) == ("sent", 2)
    assert row.sent_at is not None
    assert [m["Subject"] for m in sink.messages] == ["S"]
    assert await deliver_due(sessionmaker, up) == 0  # sent once


async def test_mail_gives_up_after_its_last_attempt(
    reset_app: FastAPI, session: AsyncSession
) -> None:
    from fynlo.mail.queue import MAX_ATTEMPTS, deliver_due, enqueue
    from fynlo.models import OutgoingMail

    sessionmaker = reset_app.state.runtime.sessionmaker
    async with sessionmaker() as writer, writer.begin():
        mail_id = enqueue(writer, sender="a@fynlo.test", to="b@fynlo.test", subject="S", body="B")
    down = SmtpMailer(host="127.0.0.1", port=free_port(), starttls=False, timeout=2)
    for _ in range(MAX_ATTEMPTS):
        await session.commit()
        row = await session.get(OutgoingMail, mail_id)
        assert row is not None
        assert row.status == "pending"
        row.next_attempt_at = utc_now() - timedelta(seconds=1)
        await session.commit()
        await deliver_due(sessionmaker, down)
    await session.commit()
    await session.refresh(row)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)


async def test_no_mail_is_queued_by_a_rolled_back_transaction(
    reset_app: FastAPI, session: AsyncSession
) -> None:
    from sqlalchemy import func

    from fynlo.mail.queue import enqueue
    from fynlo.models import OutgoingMail

    sessionmaker = reset_app.state.runtime.sessionmaker
    async with sessionmaker() as writer:
        enqueue(writer, sender="a@fynlo.test", to="b@fynlo.test", subject="S", body="B")
        await writer.flush()
        await writer.rollback()
    assert await session.scalar(select(func.count()).select_from(OutgoingMail)) == 0


async def test_a_reset_mail_is_queued_and_marked_sent(
    api: httpx.AsyncClient, sink: SinkHandler, session: AsyncSession
) -> None:
    from fynlo.models import OutgoingMail

    user = await _user(session)
    await _request_link(api, sink, user.email)
    await session.commit()
    row = await session.scalar(select(OutgoingMail))
    assert row is not None
    assert (row.status, row.to_address) == ("sent", user.email)
