"""The signature header and the receivers' verification recipe."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.config import Settings
from fynlo.webhooks.signing import (
    DELIVERY_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    decrypt_secret,
    encrypt_secret,
    generate_secret,
    sign,
    verify,
)
from tests.webhooks.conftest import MakeReceiver
from tests.webhooks.support import Deliverer, create_endpoint, only_delivery, publish
from tests.world import World

BODY = b'{"id":"e1","type":"new_order","data":{"total":"12.50"}}'


def test_header_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign(["whsec_one"], BODY, timestamp=1_700_000_000)
    expected = hmac.new(b"whsec_one", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_accepts_the_right_secret_and_refuses_tampering() -> None:
    header = sign(["whsec_right"], BODY)
    assert verify("whsec_right", header, BODY)
    assert verify("whsec_right", header, BODY.decode())  # str bodies too
    assert not verify("whsec_wrong", header, BODY)
    assert not verify("whsec_right", header, BODY.replace(b"12.50", b"1.25"))
    assert not verify("whsec_right", header, BODY + b" ")


def test_verify_refuses_stale_or_future_timestamps() -> None:
    now = int(time.time())
    old = sign(["whsec_k"], BODY, timestamp=now - 301)
    assert not verify("whsec_k", old, BODY)
    assert verify("whsec_k", old, BODY, tolerance_seconds=600)
    assert not verify("whsec_k", sign(["whsec_k"], BODY, timestamp=now + 301), BODY)
    assert verify("whsec_k", old, BODY, now=now - 301)


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=notanumber,v1=abc", "t=1700000000", "garbage", "t=,v1="],
)
def test_verify_refuses_malformed_headers(header: str) -> None:
    assert not verify("whsec_k", header, BODY, now=1_700_000_000)


def test_two_secrets_give_two_signatures_each_verifiable() -> None:
    header = sign(["whsec_new", "whsec_old"], BODY)
    assert header.count("v1=") == 2
    assert verify("whsec_new", header, BODY)
    assert verify("whsec_old", header, BODY)
    assert not verify("whsec_other", header, BODY)
    with pytest.raises(ValueError, match="at least one secret"):
        sign([], BODY)


def test_secrets_are_prefixed_random_and_round_trip_encrypted(settings: Settings) -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_")
    assert len(first) > 40
    assert first != second
    stored = encrypt_secret(settings, first)
    assert first not in stored
    assert decrypt_secret(settings, stored) == first


async def test_a_delivered_request_verifies_with_the_recipe(
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver()
    endpoint, secret = await create_endpoint(session, settings, world.a1, receiver.url)
    event, _ = await publish(session, world.a1, "new_order", {"orderId": "o-1", "total": "9.99"})

    assert await deliver() == 1
    (request,) = receiver.requests
    assert verify(secret, request.headers[SIGNATURE_HEADER], request.body)
    assert not verify(generate_secret(), request.headers[SIGNATURE_HEADER], request.body)
    assert not verify(secret, request.headers[SIGNATURE_HEADER], request.body + b"\n")
    delivery = await only_delivery(session, endpoint)
    assert request.headers[EVENT_ID_HEADER] == str(event.id)
    assert request.headers[EVENT_TYPE_HEADER] == "new_order"
    assert request.headers[DELIVERY_ID_HEADER] == str(delivery.id)
    assert request.headers["User-Agent"] == "Fynlo-Webhooks/1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.v1_count == 1
    assert request.json == {
        "id": str(event.id),
        "type": "new_order",
        "restaurantId": str(world.a1.id),
        "createdAt": request.json["createdAt"],
        "data": {"orderId": "o-1", "total": "9.99"},
    }
    assert request.json["createdAt"].endswith("Z")
