"""Base models: camelCase on the wire, unknown request fields refused."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Schema(BaseModel):
    """Response-side model: serialised with camelCase aliases."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        from_attributes=True,
        serialize_by_alias=True,
    )


class RequestSchema(Schema):
    """Request-side model: any field the API does not define is a 422 naming it.

    This is what stops a client from setting ``status``, ``total`` or ``restaurantId``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


T = TypeVar("T")


class Envelope(Schema, Generic[T]):
    success: Literal[True] = True
    data: T


class ErrorBody(Schema):
    code: str = Field(examples=["not_found"])
    message: str
    details: object | None = None
    request_id: str | None = None


class ErrorEnvelope(Schema):
    success: Literal[False] = False
    error: ErrorBody


def ok(data: T) -> Envelope[T]:
    return Envelope[T](data=data)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in (
        (400, "Bad request"),
        (401, "Not authenticated"),
        (403, "Missing permission"),
        (404, "Not found (or another restaurant's)"),
        (409, "Conflict with the current state"),
        (413, "Request body too large"),
        (422, "Validation error naming each bad field"),
        (429, "Rate limited; see Retry-After"),
        (500, "Unexpected error; quote the request id"),
    )
}
