"""E-mail as a job: a message is a row written in the transaction that decided to send it,
delivered after the commit and retried with backoff until it goes or gives up.

Nothing is mailed for a rolled-back change, and a crash or an SMTP outage delays a message
instead of losing it. Delivery is at least once: a crash between the SMTP answer and the
row's update sends that one message again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fynlo.db.engine import write_intent
from fynlo.db.types import utc_now
from fynlo.mail.adapter import Mailer, build_message, track_in_background
from fynlo.models import OutgoingMail

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
BATCH = 50


def enqueue(session: AsyncSession, *, sender: str, to: str, subject: str, body: str) -> uuid.UUID:
    """Queue one message in the caller's transaction; returns its id."""
    mail = OutgoingMail(
        id=uuid.uuid4(),
        sender=sender,
        to_address=to,
        subject=subject,
        body=body,
        status="pending",
        attempts=0,
        next_attempt_at=utc_now(),
    )
    session.add(mail)
    return mail.id


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour (after ``attempts`` failed tries)."""
    delay: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(delay, MAX_RETRY)


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], ids: Sequence[uuid.UUID] | None
) -> list[OutgoingMail]:
    """Due messages, each pushed a lock-timeout into the future so that another deliverer
    (a second replica, the worker) leaves them alone while this one sends."""
    now = utc_now()
    async with write_intent(), sessionmaker() as session, session.begin():
        query = (
            select(OutgoingMail)
            .where(OutgoingMail.status == "pending", OutgoingMail.next_attempt_at <= now)
            .order_by(OutgoingMail.next_attempt_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        if ids is not None:
            query = query.where(OutgoingMail.id.in_(ids))
        due = list((await session.scalars(query)).all())
        for mail in due:
            mail.next_attempt_at = now + FIRST_RETRY
        session.expunge_all()
        return due


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    *,
    ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Send the messages that are due (or only ``ids``); returns how many went."""
    sent = 0
    for mail in await _claim(sessionmaker, ids):
        message = build_message(
            sender=mail.sender, to=mail.to_address, subject=mail.subject, body=mail.body
        )
        error: str | None = None
        try:
            await mailer.send(message)
        except Exception as exc:  # any SMTP or network failure: retried later
            error = f"{type(exc).__name__}: {exc}"
            log.warning("mail_send_failed", mail_id=str(mail.id), attempt=mail.attempts + 1)
        async with write_intent(), sessionmaker() as session, session.begin():
            row = await session.get(OutgoingMail, mail.id, with_for_update=True)
            if row is None:
                continue
            row.attempts += 1
            if error is None:
                row.status = "sent"
                row.sent_at = utc_now()
                row.last_error = None
                sent += 1
            else:
                row.last_error = error[:2000]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                    log.error("mail_gave_up", mail_id=str(row.id), attempts=row.attempts)
                else:
                    row.next_attempt_at = utc_now() + retry_delay(row.attempts)
    return sent


def deliver_soon(
    sessionmaker: async_sessionmaker[AsyncSession], mailer: Mailer, ids: Sequence[uuid.UUID]
) -> None:
    """Right after the commit, try the just-queued messages without making the request wait;
    whatever fails is left to the periodic delivery job."""

    async def attempt() -> None:
        try:
            await deliver_due(sessionmaker, mailer, ids=ids)
        except Exception:
            log.exception("mail_delivery_failed")

    track_in_background(attempt())
