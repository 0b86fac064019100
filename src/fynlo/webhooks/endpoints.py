"""``/api/webhooks``: a restaurant's outgoing webhook endpoints and their delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request

from fynlo.auth.subject import Subject, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.config import Settings
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep, UnitOfWorkDep
from fynlo.runtime import get_runtime
from fynlo.webhooks.delivery import send
from fynlo.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatus,
    WebhookCreate,
    WebhookDeleted,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from fynlo.webhooks.service import WebhookService

webhooks_router = router(prefix="/api/webhooks", tags=["webhooks"])


async def _settings(request: Request) -> Settings:
    return get_runtime(request).settings


Paging = Annotated[PageParams, Depends(page_params)]
Manager = Annotated[Subject, Depends(require_permission("webhooks.manage"))]
SettingsDep = Annotated[Settings, Depends(_settings)]


@webhooks_router.get(
    "",
    response_model=Envelope[Page[WebhookOut]],
    summary="The restaurant's webhook endpoints, oldest first",
)
async def list_webhooks(
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
    paging: Paging,
) -> Envelope[Page[WebhookOut]]:
    rows, total = await WebhookService(session, subject, restaurant, settings).list_endpoints(
        paging
    )
    return ok(Page[WebhookOut].build(rows, paging, total))


@webhooks_router.post(
    "",
    status_code=201,
    response_model=Envelope[WebhookWithSecret],
    summary="Register a webhook endpoint",
    description="The answer carries the signing `secret`: it is shown only here, keep it. "
    "`eventTypes` empty (the default) subscribes to every type. The URL must be https "
    "outside development and test.",
)
async def create_webhook(
    body: WebhookCreate,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
) -> Envelope[WebhookWithSecret]:
    return ok(await WebhookService(session, subject, restaurant, settings).create(body))


@webhooks_router.get(
    "/{endpoint_id}", response_model=Envelope[WebhookOut], summary="One webhook endpoint"
)
async def get_webhook(
    endpoint_id: uuid.UUID,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
) -> Envelope[WebhookOut]:
    return ok(await WebhookService(session, subject, restaurant, settings).get(endpoint_id))


@webhooks_router.patch(
    "/{endpoint_id}",
    response_model=Envelope[WebhookOut],
    summary="Change a webhook endpoint's URL, description, event types or active flag",
    description="An inactive endpoint gets no new deliveries and its pending ones wait.",
)
async def update_webhook(
    endpoint_id: uuid.UUID,
    body: WebhookUpdate,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
) -> Envelope[WebhookOut]:
    service = WebhookService(session, subject, restaurant, settings)
    return ok(await service.update(endpoint_id, body))


@webhooks_router.delete(
    "/{endpoint_id}",
    response_model=Envelope[WebhookDeleted],
    summary="Delete a webhook endpoint and its delivery log",
)
async def delete_webhook(
    endpoint_id: uuid.UUID,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
) -> Envelope[WebhookDeleted]:
    await WebhookService(session, subject, restaurant, settings).delete(endpoint_id)
    return ok(WebhookDeleted(id=endpoint_id, deleted=True))


@webhooks_router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=Envelope[WebhookWithSecret],
    summary="Replace the signing secret",
    description="The new `secret` is shown only in this answer. For 24 hours "
    "(`previousSecretExpiresAt`) deliveries carry a second `v1` signature made with the "
    "previous secret, so receivers can switch over without refusing a delivery.",
)
async def rotate_secret(
    endpoint_id: uuid.UUID,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
) -> Envelope[WebhookWithSecret]:
    service = WebhookService(session, subject, restaurant, settings)
    return ok(await service.rotate_secret(endpoint_id))


@webhooks_router.get(
    "/{endpoint_id}/deliveries",
    response_model=Envelope[Page[DeliveryOut]],
    summary="An endpoint's deliveries, newest first, with their attempts",
)
async def list_deliveries(
    endpoint_id: uuid.UUID,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
    paging: Paging,
    status: DeliveryStatus | None = None,
) -> Envelope[Page[DeliveryOut]]:
    rows, total = await WebhookService(session, subject, restaurant, settings).deliveries(
        endpoint_id, paging, status=status
    )
    return ok(Page[DeliveryOut].build(rows, paging, total))


@webhooks_router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/replay",
    response_model=Envelope[DeliveryOut],
    summary="Send a delivery again now, whatever its status",
    description="Logged as a manual attempt. Success marks the delivery delivered; a failure "
    "leaves its status and retry schedule as they were. The request waits for the receiver "
    "(at most 10 s).",
)
async def replay_delivery(
    endpoint_id: uuid.UUID,
    delivery_id: uuid.UUID,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
    uow: UnitOfWorkDep,
) -> Envelope[DeliveryOut]:
    service = WebhookService(session, subject, restaurant, settings)
    job = await service.prepare_replay(endpoint_id, delivery_id)
    # No transaction (nor SQLite's write lock) stays open while the receiver answers: the
    # audit row commits first, and the attempt is recorded in a second transaction.
    await uow.commit()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        outcome = await send(client, job)
    return ok(await service.finish_replay(job, outcome))


@webhooks_router.post(
    "/{endpoint_id}/test",
    status_code=201,
    response_model=Envelope[DeliveryOut],
    summary="Queue a test delivery (a `notification` event) to this endpoint",
    description="Sent by the next delivery round, within a few seconds, signed like any "
    "other; follow it in the endpoint's deliveries.",
)
async def test_webhook(
    endpoint_id: uuid.UUID,
    subject: Manager,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    settings: SettingsDep,
) -> Envelope[DeliveryOut]:
    service = WebhookService(session, subject, restaurant, settings)
    return ok(await service.queue_test(endpoint_id))


ROUTERS: list[APIRouter] = [webhooks_router]
