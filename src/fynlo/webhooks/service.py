"""Webhook rules: registering endpoints, rotating their secrets, the delivery log, replays,
and fanning an outbox event out to the endpoints that want it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.config import Settings, get_settings
from fynlo.db.row_security import apply_tenant_scope
from fynlo.db.types import utc_now
from fynlo.db.upsert import conflict_insert_for
from fynlo.events.catalog import EventRecord
from fynlo.events.dispatcher import PendingEvent
from fynlo.kit.errors import Conflict, ResourceNotFound, Unprocessable
from fynlo.kit.pagination import PageParams
from fynlo.models import Restaurant, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from fynlo.webhooks.delivery import PENDING, Job, Outcome, job_for, record_outcome
from fynlo.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryStatus,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from fynlo.webhooks.signing import encrypt_secret, generate_secret

# After a rotation the previous secret keeps signing this long, so receivers can switch over.
PREVIOUS_SECRET_VALIDITY = timedelta(hours=24)
# Each event is fanned out to every matching endpoint inside the dispatcher's transaction.
MAX_ENDPOINTS_PER_RESTAURANT = 20
PLAIN_HTTP_ENVIRONMENTS = frozenset({"development", "test"})
TEST_EVENT_TYPE = "notification"


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", details=[{"field": field, "message": message}])


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event_body(
    event_id: uuid.UUID,
    event_type: str,
    restaurant_id: uuid.UUID,
    created_at: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The JSON body a receiver gets (stored as the delivery's ``payload``)."""
    return {
        "id": str(event_id),
        "type": event_type,
        "restaurantId": str(restaurant_id),
        "createdAt": _iso(created_at),
        "data": data,
    }


class WebhookEndpointInactive(Conflict):
    code = "webhook_endpoint_inactive"

    def __init__(self, endpoint: WebhookEndpoint) -> None:
        super().__init__(
            f"Webhook endpoint {endpoint.id} is inactive; set isActive to true first",
            details={"endpointId": str(endpoint.id), "field": "isActive"},
        )


class TooManyWebhookEndpoints(Conflict):
    code = "too_many_webhook_endpoints"

    def __init__(self) -> None:
        super().__init__(
            f"A restaurant may register at most {MAX_ENDPOINTS_PER_RESTAURANT} webhook "
            "endpoints; delete one first",
            details={"limit": MAX_ENDPOINTS_PER_RESTAURANT},
        )


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types or []),
        is_active=endpoint.is_active,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret.model_validate(
        {**endpoint_out(endpoint).model_dump(by_alias=False), "secret": secret}
    )


def attempt_out(attempt: WebhookAttempt) -> AttemptOut:
    return AttemptOut(
        id=attempt.id,
        attempt=attempt.attempt,
        status_code=attempt.status_code,
        error=attempt.error,
        duration_ms=attempt.duration_ms,
        manual=attempt.manual,
        created_at=attempt.created_at,
    )


def delivery_out(delivery: WebhookDelivery, attempts: Sequence[WebhookAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=cast(DeliveryStatus, delivery.status),
        attempt_count=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        payload=delivery.payload,
        attempts=[attempt_out(a) for a in attempts],
    )


def _audit_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What an audit row shows of an endpoint: never its secrets."""
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "eventTypes": list(endpoint.event_types or []),
        "isActive": endpoint.is_active,
    }


def _changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in new if old.get(k) != new[k]]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


@dataclass
class WebhookService:
    session: AsyncSession
    subject: Subject
    restaurant: Restaurant
    settings: Settings = field(default_factory=get_settings)

    # -- endpoints -------------------------------------------------------------------------

    def _check_scheme(self, url: str) -> None:
        if self.settings.environment in PLAIN_HTTP_ENVIRONMENTS:
            return
        if not url.lower().startswith("https://"):
            raise _invalid(
                "url", "must be an https URL (plain http is accepted only in development and test)"
            )

    async def _endpoint(self, endpoint_id: uuid.UUID, *, lock: bool = False) -> WebhookEndpoint:
        query = select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.restaurant_id == self.restaurant.id,
        )
        if lock:
            query = query.with_for_update()
        endpoint: WebhookEndpoint | None = (
            await self.session.execute(query.execution_options(populate_existing=True))
        ).scalar_one_or_none()
        if endpoint is None:
            raise ResourceNotFound("Webhook endpoint", endpoint_id)
        return endpoint

    async def _audit(
        self,
        action: str,
        resource_id: uuid.UUID,
        *,
        resource_type: str = "webhook_endpoint",
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
    ) -> None:
        await record(
            self.session,
            self.subject.actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            restaurant_id=self.restaurant.id,
            old=old,
            new=new,
        )

    async def create(self, body: WebhookCreate) -> WebhookWithSecret:
        """Register an endpoint; the answer is the only time its secret is shown."""
        self._check_scheme(body.url)
        count = await self.session.scalar(
            select(func.count(WebhookEndpoint.id)).where(
                WebhookEndpoint.restaurant_id == self.restaurant.id
            )
        )
        if (count or 0) >= MAX_ENDPOINTS_PER_RESTAURANT:
            raise TooManyWebhookEndpoints()
        secret = generate_secret()
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            url=body.url,
            description=body.description,
            event_types=list(dict.fromkeys(body.event_types)),
            is_active=True,
            secret_encrypted=encrypt_secret(self.settings, secret),
        )
        self.session.add(endpoint)
        await self.session.flush()
        await self.session.refresh(endpoint)
        await self._audit("webhook.create", endpoint.id, new=_audit_view(endpoint))
        return _with_secret(endpoint, secret)

    async def list_endpoints(self, params: PageParams) -> tuple[list[WebhookOut], int]:
        condition = WebhookEndpoint.restaurant_id == self.restaurant.id
        total = (
            await self.session.scalar(select(func.count(WebhookEndpoint.id)).where(condition)) or 0
        )
        rows = await self.session.scalars(
            select(WebhookEndpoint)
            .where(condition)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            .limit(params.limit)
            .offset(params.offset)
        )
        return [endpoint_out(e) for e in rows], total

    async def get(self, endpoint_id: uuid.UUID) -> WebhookOut:
        return endpoint_out(await self._endpoint(endpoint_id))

    async def update(self, endpoint_id: uuid.UUID, body: WebhookUpdate) -> WebhookOut:
        given = body.model_fields_set
        nulls = [
            {"field": name, "message": "cannot be null"}
            for attribute, name in (
                ("url", "url"),
                ("event_types", "eventTypes"),
                ("is_active", "isActive"),
            )
            if attribute in given and getattr(body, attribute) is None
        ]
        if nulls:
            summary = ", ".join(d["field"] for d in nulls)
            raise Unprocessable(f"{summary}: cannot be null", details=nulls)
        endpoint = await self._endpoint(endpoint_id, lock=True)
        before = _audit_view(endpoint)
        if body.url is not None:
            self._check_scheme(body.url)
            endpoint.url = body.url
        if "description" in given:
            endpoint.description = body.description
        if body.event_types is not None:
            endpoint.event_types = list(dict.fromkeys(body.event_types))
        if body.is_active is not None:
            endpoint.is_active = body.is_active
        old, new = _changes(before, _audit_view(endpoint))
        if new:
            await self.session.flush()
            await self.session.refresh(endpoint)
            await self._audit("webhook.update", endpoint.id, old=old, new=new)
        return endpoint_out(endpoint)

    async def delete(self, endpoint_id: uuid.UUID) -> None:
        """Delete the endpoint with its delivery log (pending deliveries are dropped)."""
        endpoint = await self._endpoint(endpoint_id, lock=True)
        before = _audit_view(endpoint)
        await self.session.delete(endpoint)
        await self.session.flush()
        await self._audit("webhook.delete", endpoint_id, old=before)

    async def rotate_secret(self, endpoint_id: uuid.UUID) -> WebhookWithSecret:
        """A new secret signs from now on; the previous one also signs (a second ``v1``)
        for :data:`PREVIOUS_SECRET_VALIDITY`. The new secret is shown only in this answer."""
        endpoint = await self._endpoint(endpoint_id, lock=True)
        secret = generate_secret()
        expires_at = utc_now() + PREVIOUS_SECRET_VALIDITY
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = expires_at
        endpoint.secret_encrypted = encrypt_secret(self.settings, secret)
        await self.session.flush()
        await self.session.refresh(endpoint)
        await self._audit(
            "webhook.rotate_secret",
            endpoint.id,
            new={"previousSecretExpiresAt": _iso(expires_at)},
        )
        return _with_secret(endpoint, secret)

    # -- deliveries ------------------------------------------------------------------------

    async def _attempts(
        self, delivery_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[WebhookAttempt]]:
        by_delivery: dict[uuid.UUID, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
        if not delivery_ids:
            return by_delivery
        rows = await self.session.scalars(
            select(WebhookAttempt)
            .where(
                WebhookAttempt.restaurant_id == self.restaurant.id,
                WebhookAttempt.delivery_id.in_(delivery_ids),
            )
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt, WebhookAttempt.id)
        )
        for attempt in rows:
            by_delivery[attempt.delivery_id].append(attempt)
        return by_delivery

    async def _delivery_view(self, delivery: WebhookDelivery) -> DeliveryOut:
        attempts = await self._attempts([delivery.id])
        return delivery_out(delivery, attempts[delivery.id])

    async def deliveries(
        self, endpoint_id: uuid.UUID, params: PageParams, *, status: DeliveryStatus | None
    ) -> tuple[list[DeliveryOut], int]:
        """An endpoint's deliveries, newest first, each with its attempts."""
        await self._endpoint(endpoint_id)
        conditions: list[ColumnElement[bool]] = [
            WebhookDelivery.restaurant_id == self.restaurant.id,
            WebhookDelivery.endpoint_id == endpoint_id,
        ]
        if status is not None:
            conditions.append(WebhookDelivery.status == status)
        total = (
            await self.session.scalar(select(func.count(WebhookDelivery.id)).where(*conditions))
            or 0
        )
        rows = list(
            await self.session.scalars(
                select(WebhookDelivery)
                .where(*conditions)
                .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
                .limit(params.limit)
                .offset(params.offset)
            )
        )
        attempts = await self._attempts([d.id for d in rows])
        return [delivery_out(d, attempts[d.id]) for d in rows], total

    async def _delivery(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        delivery = await self.session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.restaurant_id == self.restaurant.id,
            )
        )
        if delivery is None:
            raise ResourceNotFound("Webhook delivery", delivery_id)
        return delivery

    async def prepare_replay(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> Job:
        """Check and audit a replay; what to send. The caller ends the transaction before
        sending (an HTTP call never runs inside one), then calls :meth:`finish_replay`."""
        endpoint = await self._endpoint(endpoint_id)
        if not endpoint.is_active:
            raise WebhookEndpointInactive(endpoint)
        delivery = await self._delivery(endpoint_id, delivery_id)
        await self._audit(
            "webhook.replay",
            delivery.id,
            resource_type="webhook_delivery",
            old={"status": delivery.status},
            new={"endpointId": str(endpoint.id), "eventId": str(delivery.event_id)},
        )
        return job_for(delivery, endpoint, self.settings, utc_now())

    async def finish_replay(self, job: Job, outcome: Outcome) -> DeliveryOut:
        """Log the replay as a manual attempt, in a new transaction of the request."""
        await apply_tenant_scope(self.session, self.subject.scope)
        delivery = await record_outcome(
            self.session, job.delivery_id, outcome, now=utc_now(), manual=True
        )
        if delivery is None:  # its endpoint was deleted while the request was sending
            raise ResourceNotFound("Webhook delivery", job.delivery_id)
        return await self._delivery_view(delivery)

    async def queue_test(self, endpoint_id: uuid.UUID) -> DeliveryOut:
        """Queue a ``notification`` ping for this endpoint alone, due at once (whatever
        event types the endpoint subscribes to)."""
        endpoint = await self._endpoint(endpoint_id)
        if not endpoint.is_active:
            raise WebhookEndpointInactive(endpoint)
        now = utc_now()
        event_id = uuid.uuid4()
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=TEST_EVENT_TYPE,
            payload=event_body(
                event_id,
                TEST_EVENT_TYPE,
                self.restaurant.id,
                now,
                {"test": True, "message": "Test delivery from Fynlo"},
            ),
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        self.session.add(delivery)
        await self.session.flush()
        await self._audit(
            "webhook.test",
            delivery.id,
            resource_type="webhook_delivery",
            new={"endpointId": str(endpoint.id), "eventId": str(event_id)},
        )
        return delivery_out(delivery, [])


async def fan_out(session: AsyncSession, events: Sequence[EventRecord]) -> int:
    """Queue one delivery of each event per active endpoint of its restaurant that wants its
    type; the number queued. One query for the endpoints of the whole batch and one insert;
    none for events the dispatcher read with no endpoint of their restaurant.
    Idempotent: an (endpoint, event) pair is queued once.

    Runs in the caller's transaction (the outbox dispatcher's), with no request around it.
    """
    events = [e for e in events if not isinstance(e, PendingEvent) or e.webhook_endpoints]
    restaurants = {event.restaurant_id for event in events}
    if not restaurants:
        return 0
    endpoints = (
        await session.execute(
            select(
                WebhookEndpoint.restaurant_id, WebhookEndpoint.id, WebhookEndpoint.event_types
            ).where(
                WebhookEndpoint.restaurant_id.in_(restaurants),
                WebhookEndpoint.is_active.is_(True),
            )
        )
    ).all()
    if not endpoints:
        return 0
    now = utc_now()
    rows = []
    for event in events:
        payload = event_body(
            event.id, event.event_type, event.restaurant_id, event.created_at or now, event.payload
        )
        rows += [
            {
                "id": uuid.uuid4(),
                "restaurant_id": event.restaurant_id,
                "endpoint_id": endpoint_id,
                "event_id": event.id,
                "event_type": event.event_type,
                "payload": payload,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for restaurant_id, endpoint_id, event_types in endpoints
            if restaurant_id == event.restaurant_id
            and (not event_types or event.event_type in event_types)
        ]
    if not rows:
        return 0
    insert = conflict_insert_for(session)
    result = await session.execute(
        insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        .returning(WebhookDelivery.id)
    )
    return len(result.all())
