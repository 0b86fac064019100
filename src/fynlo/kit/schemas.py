"""Base models: camelCase on the wire, unknown request fields refused."""

from __future__ import annotations

from functools import cache
from typing import Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
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

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul_characters(cls, value: Any, info: ValidationInfo) -> Any:
        # PostgreSQL text and JSON cannot hold U+0000: refuse it as the field's error here
        # rather than fail on insert (SQLite would store it, so the two would disagree).
        if value is None or isinstance(value, int | float):
            return value
        if not isinstance(value, str) and _holds_request_models(cls, info.field_name):
            return value  # each nested model checks its own fields, under their own names
        where = nul_path(value)
        if where is not None:
            raise ValueError(
                "must not contain the NUL character (U+0000)" + (f" (at {where})" if where else "")
            )
        return value


@cache
def _holds_request_models(model: type[BaseModel], field_name: str | None) -> bool:
    field = model.model_fields.get(field_name or "")
    return field is not None and _mentions_request_model(field.annotation)


def _mentions_request_model(annotation: object) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, RequestSchema):
        return True
    return any(_mentions_request_model(arg) for arg in get_args(annotation))


def nul_path(value: object, path: str = "") -> str | None:
    """Where in ``value`` (a JSON-like structure) a string holds U+0000: ``""`` for the
    value itself, ``"a.0.b"`` inside it; None when nowhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return inner
            found = nul_path(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


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
