"""Sending due webhook deliveries: claim, send outside any transaction, record.

A round claims due rows in a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite) that also pushes their ``next_attempt_at`` forward by
:data:`LEASE`, so a concurrent round (another replica, the next tick) passes them by. The
HTTP calls then run with no transaction open, and each result is written in its own short
transaction. A process that dies mid-round leaves its claimed rows to be retried once the
lease has run out: receivers see at-least-once delivery and de-duplicate on
``Fynlo-Event-Id``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fynlo.config import Settings
from fynlo.db.engine import write_intent
from fynlo.db.types import utc_now
from fynlo.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from fynlo.webhooks.signing import decrypt_secret, delivery_headers, encode_body

log = structlog.get_logger(__name__)

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

TIMEOUT_SECONDS = 10.0
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
# A delivery still failing this long after it was queued is given up.
GIVE_UP_AFTER = timedelta(hours=24)
# How long a claimed row is kept from other rounds. Longer than a round can take: at most
# ``limit / MAX_CONCURRENCY`` waves of TIMEOUT_SECONDS each.
LEASE = timedelta(minutes=5)
MAX_CONCURRENCY = 10
MAX_ERROR_LENGTH = 500
UNSIGNABLE = "cannot sign: the endpoint's secret does not decrypt with the data encryption key"


@dataclass(frozen=True)
class Job:
    """Everything one HTTP call needs, read while the row was claimed."""

    delivery_id: uuid.UUID
    restaurant_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    url: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(failures: int) -> timedelta:
    """Wait after the ``failures``-th failed attempt: 30 s, 1 min, 2 min, 4 min ... 1 h."""
    exponent = min(max(failures - 1, 0), 8)  # 30 s * 2**7 is already past the cap
    return min(FIRST_RETRY * (1 << exponent), MAX_RETRY)


def signing_secrets(
    endpoint: WebhookEndpoint, settings: Settings, now: datetime
) -> tuple[str, ...]:
    """The current secret, then the rotated-out one while it is still valid."""
    current = decrypt_secret(settings, endpoint.secret_encrypted)
    if (
        endpoint.previous_secret_encrypted is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        return (current, decrypt_secret(settings, endpoint.previous_secret_encrypted))
    return (current,)


def job_for(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, settings: Settings, now: datetime
) -> Job:
    return Job(
        delivery_id=delivery.id,
        restaurant_id=delivery.restaurant_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        url=endpoint.url,
        body=encode_body(delivery.payload),
        secrets=signing_secrets(endpoint, settings, now),
    )


def _error_text(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {TIMEOUT_SECONDS:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {exc or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"


async def send(client: httpx.AsyncClient, job: Job) -> Outcome:
    """One signed POST. The receiver's body is never read: only its status counts."""
    headers = delivery_headers(
        job.secrets,
        job.body,
        event_id=job.event_id,
        event_type=job.event_type,
        delivery_id=job.delivery_id,
    )
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        async with client.stream(
            "POST", job.url, content=job.body, headers=headers, timeout=TIMEOUT_SECONDS
        ) as response:
            status_code = response.status_code
    except Exception as exc:  # any failure to get an answer is a failed attempt
        error = _error_text(exc)
    duration_ms = round((time.perf_counter() - started) * 1000)
    if status_code is not None and not 200 <= status_code < 300:
        error = f"receiver answered HTTP {status_code}"
    return Outcome(status_code, error[:MAX_ERROR_LENGTH] if error else None, duration_ms)


async def record_outcome(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    outcome: Outcome,
    *,
    now: datetime,
    manual: bool,
) -> WebhookDelivery | None:
    """Log the attempt and move the delivery on, in the caller's transaction.

    A success delivers it. An automatic failure schedules the next try, or gives up once
    the delivery is older than :data:`GIVE_UP_AFTER`. A manual (replay) failure leaves the
    status and schedule as they were. None if the delivery was deleted meanwhile.
    """
    delivery = (
        await session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if delivery is None:
        return None
    delivery.attempts += 1
    session.add(
        WebhookAttempt(
            id=uuid.uuid4(),
            restaurant_id=delivery.restaurant_id,
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            manual=manual,
            created_at=now,
            updated_at=now,
        )
    )
    delivery.last_attempt_at = now
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.ok:
        delivery.status = DELIVERED
        delivery.delivered_at = delivery.delivered_at or now  # a replay keeps the first time
        delivery.next_attempt_at = None
    elif not manual and delivery.status == PENDING:
        if now - delivery.created_at >= GIVE_UP_AFTER:
            delivery.status = FAILED
            delivery.next_attempt_at = None
            log.warning(
                "webhook_delivery_given_up",
                delivery_id=str(delivery.id),
                attempts=delivery.attempts,
                error=outcome.error,
            )
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    await session.flush()
    return delivery


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    limit: int,
) -> tuple[list[Job], int]:
    """Claim due rows; the jobs to send, and how many could not even be signed."""
    async with sessionmaker() as session:
        # Most rounds find nothing: look before taking SQLite's write lock.
        due = await session.scalar(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
            .limit(1)
        )
    if due is None:
        return [], 0
    async with write_intent(), sessionmaker() as session, session.begin():
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.status == PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookEndpoint.is_active.is_(True),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
        ).all()
        jobs: list[Job] = []
        unsendable: list[uuid.UUID] = []
        for delivery, endpoint in rows:
            delivery.next_attempt_at = now + LEASE
            try:
                jobs.append(job_for(delivery, endpoint, settings, now))
            except Exception:  # a secret the data encryption key cannot decrypt
                log.exception("webhook_delivery_unsendable", delivery_id=str(delivery.id))
                unsendable.append(delivery.id)
        # Failed attempts like any other: retried with backoff, then given up.
        for delivery_id in unsendable:
            await record_outcome(
                session, delivery_id, Outcome(None, UNSIGNABLE, 0), now=now, manual=False
            )
    return jobs, len(unsendable)


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    now: datetime | None = None,
    limit: int = 50,
) -> int:
    """Send the pending deliveries due at ``now`` (default: the current time); the number
    attempted. ``now`` also stamps the results, so tests can step past the backoff."""
    jobs, unsendable = await _claim(sessionmaker, settings, now or utc_now(), limit)
    if not jobs:
        return unsendable
    gate = asyncio.Semaphore(MAX_CONCURRENCY)

    async def attempt(job: Job) -> None:
        async with gate:
            outcome = await send(client, job)
        async with write_intent(), sessionmaker() as session, session.begin():
            await record_outcome(
                session, job.delivery_id, outcome, now=now or utc_now(), manual=False
            )

    results = await asyncio.gather(*(attempt(job) for job in jobs), return_exceptions=True)
    for job, result in zip(jobs, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            log.error(
                "webhook_delivery_not_recorded",
                delivery_id=str(job.delivery_id),
                error=repr(result),
            )
    return len(jobs) + unsendable
