"""Request bodies of the kitchen endpoints."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field, model_validator

from fynlo.kit.schemas import RequestSchema


class FireIn(RequestSchema):
    """Which held items to send: a ``course``, a list of ``itemIds``, or (neither) all."""

    course: int | None = Field(default=None, ge=1, le=9)
    item_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_selector(self) -> FireIn:
        if self.course is not None and self.item_ids is not None:
            raise ValueError("give either course or itemIds, not both")
        return self


class ItemStatusIn(RequestSchema):
    """The spec's body: ``{"status": "completed", "actualTime": 8}`` (minutes)."""

    status: Literal["pending", "preparing", "ready", "served", "completed"]
    actual_time: float | None = Field(
        default=None,
        ge=0,
        le=1440,
        description="Minutes the item took, as the kitchen timed it; only with ready/completed",
    )
    version: int | None = Field(default=None, ge=1)
