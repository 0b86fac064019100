"""Sending e-mail: a small protocol, a real SMTP client and a log-only development stand-in."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import structlog

if TYPE_CHECKING:
    from fynlo.config import Settings

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0


@runtime_checkable
class Mailer(Protocol):
    """Delivers one message (``From``, ``To`` and ``Subject`` already set) or raises."""

    async def send(self, message: EmailMessage) -> None: ...


def build_message(*, sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text message, UTF-8, ready for :meth:`Mailer.send`."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def _text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if isinstance(part, EmailMessage):
        return str(part.get_content())
    return ""


@dataclass
class SmtpMailer:
    """Real delivery through an SMTP relay; blocking ``smtplib`` runs in a worker thread.

    ``starttls=True`` upgrades the connection (certificate verified) before any credential
    is sent; ``username``/``password`` are optional (an open relay on a private network).
    """

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def _send_sync(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send_sync, message)
        log.info("mail_sent", to=message["To"], subject=message["Subject"], via=self.host)


@dataclass
class LogMailer:
    """Development stand-in when no SMTP host is configured: the message goes to the log.

    The body is logged at INFO so a developer can follow a reset link from the console.
    ``log_body=False`` (used outside development and test) keeps secrets such as reset
    tokens out of production logs and only records that a message was dropped.
    """

    log_body: bool = True

    async def send(self, message: EmailMessage) -> None:
        if self.log_body:
            log.info(
                "mail_logged_not_sent",
                to=message["To"],
                subject=message["Subject"],
                body=_text_body(message),
            )
        else:
            log.warning(
                "mail_dropped_no_smtp_configured",
                to=message["To"],
                subject=message["Subject"],
                hint="set FYNLO_SMTP_HOST to deliver e-mail",
            )


def mailer_from_settings(settings: Settings) -> Mailer:
    """:class:`SmtpMailer` when ``FYNLO_SMTP_HOST`` is set, else :class:`LogMailer`."""
    if settings.smtp_host:
        return SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            starttls=settings.smtp_starttls,
        )
    return LogMailer(log_body=settings.environment in ("development", "test"))


_in_flight: set[asyncio.Task[None]] = set()


async def _deliver(mailer: Mailer, message: EmailMessage) -> None:
    try:
        await mailer.send(message)
    except Exception:
        log.exception("mail_send_failed", to=message["To"], subject=message["Subject"])


def send_in_background(mailer: Mailer, message: EmailMessage) -> asyncio.Task[None]:
    """Deliver without making the caller wait; failures are logged, never raised."""
    return track_in_background(_deliver(mailer, message))


def track_in_background(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run ``work`` as a task that :func:`wait_for_pending_mail` waits for."""
    task = asyncio.get_running_loop().create_task(work)
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
    return task


async def wait_for_pending_mail() -> None:
    """Wait until every background delivery started so far has finished (tests, shutdown).

    Each delivery is bounded by its mailer's own timeout; wrap in ``asyncio.timeout`` for a
    tighter bound.
    """
    pending = list(_in_flight)
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
