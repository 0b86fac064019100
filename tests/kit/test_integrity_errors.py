"""Unique clashes the services did not foresee are named from the constraint, on both drivers."""

from __future__ import annotations

import pytest

import fynlo.models  # noqa: F401 - the metadata the handler reads
from fynlo.kit.handlers import _unique_fields

PG = "duplicate key value violates unique constraint "


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (PG + '"uq_users_email"', ["email"]),
        (
            PG + '"uq_dining_tables_restaurant_id_number"',
            ["number"],
        ),
        (
            PG + '"ix_inventory_restaurant_id_product_id"',
            ["product_id"],
        ),
        ("UNIQUE constraint failed: users.email", ["email"]),
        (
            "UNIQUE constraint failed: dining_tables.restaurant_id, dining_tables.number",
            ["number"],
        ),
        (PG + '"no_such_constraint"', None),
        ("FOREIGN KEY constraint failed", None),
    ],
)
def test_fields_come_from_the_constraint(message: str, fields: list[str] | None) -> None:
    assert _unique_fields(message) == fields
