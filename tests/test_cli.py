"""The ``fynlo`` command, run as a real process on a fresh SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fynlo.demo.loader import DEMO_PASSWORD
from fynlo.menu.schemas import DIETARY_FLAGS
from tests.conftest import LiveServer

FIRST_RUN = (
    "Created: 1 platforms, 9 users, 3 restaurants, 1 tills, 17 categories, 85 products, "
    "26 tables, 15 stock items"
)
RERUN = (
    "Created: 0 platforms, 0 users, 0 restaurants, 0 tills, 0 categories, 0 products, "
    "0 tables, 0 stock items"
)


def _fynlo(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FYNLO_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "fynlo.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _text(result: subprocess.CompletedProcess[str]) -> str:
    """The output with rich's line wrapping undone (the console is 80 columns in a pipe)."""
    return " ".join(result.stdout.split())


def _query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cli") / "fynlo.db"
    result = _fynlo(db, "migrate")
    assert result.returncode == 0, result.stderr
    assert "Database at revision" in result.stdout
    return db


def test_demo_loads_once_and_rerun_does_not_duplicate(migrated_db: Path) -> None:
    first = _fynlo(migrated_db, "demo")
    assert first.returncode == 0, first.stderr
    assert FIRST_RUN in _text(first)
    assert "manager@fynlo.demo" in first.stdout
    tables = ("users", "restaurants", "products", "modifier_groups", "inventory", "stock_movements")
    counts = [_count(migrated_db, table) for table in tables]
    second = _fynlo(migrated_db, "demo")
    assert second.returncode == 0, second.stderr
    assert RERUN in _text(second)
    assert [_count(migrated_db, table) for table in tables] == counts


@pytest.fixture(scope="module")
def demo_db(migrated_db: Path) -> Path:
    loaded = _fynlo(migrated_db, "demo")
    assert loaded.returncode == 0, loaded.stderr
    assert "X-Device-Token: demo-till-fynlo-bistro-soho" in loaded.stdout
    return migrated_db


@pytest.fixture(scope="module")
def demo_server(demo_db: Path) -> Iterator[LiveServer]:
    """One server on the demo database for every test below that needs one."""
    server = LiveServer({"FYNLO_DATABASE_URL": f"sqlite+aiosqlite:///{demo_db}"})
    yield server
    server.stop()


def _restaurant_id(db: Path, name: str) -> str:
    return str(_query(db, "SELECT id FROM restaurants WHERE name = ?", name)[0][0])


def test_demo_menu_tables_and_stock_are_consistent(demo_db: Path) -> None:
    bistro = _restaurant_id(demo_db, "Fynlo Bistro Soho")
    available = _query(
        demo_db,
        "SELECT count(*) FROM products "
        "WHERE restaurant_id = ? AND is_available AND NOT is_archived",
        bistro,
    )[0][0]
    assert available >= 30

    # Every category names a station; every product's dietary flags are the API's.
    assert _query(demo_db, "SELECT count(*) FROM categories WHERE kitchen_station IS NULL") == [
        (0,)
    ]
    for (dietary,) in _query(demo_db, "SELECT dietary_info FROM products"):
        assert set(json.loads(dietary)) <= {*DIETARY_FLAGS, "containsAllergens"}

    # Modifier groups an order can satisfy: 0 <= min <= max <= options, names unique.
    groups = _query(
        demo_db,
        "SELECT g.product_id, g.name, g.min_choices, g.max_choices, count(o.id), "
        "count(DISTINCT lower(o.name)) FROM modifier_groups g "
        "JOIN modifier_options o ON o.group_id = g.id GROUP BY g.id",
    )
    assert len(groups) >= 40
    for _, name, low, high, options, distinct in groups:
        assert 0 <= low <= high <= options, name
        assert high >= 1, name
        assert distinct == options, name
    names = [(product, name.lower()) for product, name, *_ in groups]
    assert len(names) == len(set(names))
    steak = _query(
        demo_db,
        "SELECT g.min_choices, g.max_choices, sum(o.price_minor), count(o.id) "
        "FROM modifier_groups g JOIN products p ON p.id = g.product_id "
        "JOIN modifier_options o ON o.group_id = g.id "
        "WHERE p.name LIKE '%ribeye%' AND g.name = 'Doneness' GROUP BY g.id",
    )
    assert steak == [(1, 1, 0, 5)]

    tables = dict(
        _query(
            demo_db,
            "SELECT r.name, count(t.id) FROM restaurants r "
            "JOIN dining_tables t ON t.restaurant_id = r.id GROUP BY r.name",
        )
    )
    assert tables == {
        "Fynlo Bistro Soho": 12,
        "Fynlo Cafe Camden": 6,
        "Masala House Bengaluru": 8,
    }
    bistro_tables = _query(
        demo_db, "SELECT number, seats, section FROM dining_tables WHERE restaurant_id = ?", bistro
    )
    assert {number for number, _, _ in bistro_tables} == {str(n) for n in range(1, 13)}
    assert {seats for _, seats, _ in bistro_tables} == {2, 4, 6}
    assert {section for _, _, section in bistro_tables} == {"Window", "Main", "Terrace"}

    # The ledger sums to the level of every stock item; some start low enough to alert.
    stock = _query(
        demo_db,
        "SELECT i.product_id, i.current_stock_milli, coalesce(i.reorder_point_milli, "
        "i.minimum_stock_milli), (SELECT coalesce(sum(m.quantity_milli), 0) "
        "FROM stock_movements m WHERE m.restaurant_id = i.restaurant_id "
        "AND m.product_id = i.product_id) FROM inventory i",
    )
    assert len(stock) == 15
    for product, level, _, ledger in stock:
        assert ledger == level, product
    assert any(level <= threshold for _, level, threshold, _ in stock)

    masala_tax = _query(
        demo_db, "SELECT tax_configuration FROM restaurants WHERE name = 'Masala House Bengaluru'"
    )[0][0]
    assert json.loads(masala_tax)["vatRate"] == 5


async def test_demo_till_accepts_a_pin_sign_in(demo_db: Path, demo_server: LiveServer) -> None:
    waiter_id = _query(demo_db, "SELECT id FROM users WHERE email = 'waiter@fynlo.demo'")[0][0]
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        response = await client.post(
            "/api/auth/pin-login",
            json={"userId": str(uuid.UUID(waiter_id)), "pin": "1004"},
            headers={"X-Device-Token": "demo-till-fynlo-bistro-soho"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"]["role"] == "waiter"


async def _sign_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post(
        "/api/auth/login", json={"email": email, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['tokens']['access']}"}


async def _menu(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    response = await client.get("/api/products", params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    return {p["name"]: p["id"] for p in response.json()["data"]["items"]}


async def test_demo_waiter_orders_with_modifiers(demo_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        waiter = await _sign_in(client, "waiter@fynlo.demo")
        menu = await _menu(client, waiter)
        order = await client.post(
            "/api/orders",
            headers=waiter,
            json={
                "tableNumber": "5",
                "orderType": "dine_in",
                "items": [
                    {
                        "productId": menu["28-day aged ribeye steak (10oz)"],
                        "quantity": 1,
                        "unitPrice": 29.00,
                        "modifiers": [
                            {"type": "Doneness", "value": "Medium rare"},
                            {"type": "Sauce", "value": "Peppercorn", "price": 2.50},
                        ],
                    },
                    {
                        "productId": menu["Fynlo beef burger"],
                        "quantity": 2,
                        "modifiers": [
                            {"type": "Side", "value": "Sweet potato fries", "price": 1.00},
                            {"type": "Extras", "value": "Smoked streaky bacon"},
                            {"type": "Extras", "value": "Mature cheddar"},
                        ],
                    },
                    {
                        "productId": menu["Caffe latte"],
                        "quantity": 1,
                        "modifiers": [
                            {"type": "size", "value": "large"},
                            {"type": "Milk", "value": "Oat"},
                        ],
                    },
                    {"productId": menu["Dark chocolate fondant"], "quantity": 1},
                ],
            },
        )
        owner = await _sign_in(client, "owner2@fynlo.demo")
        masala = await _menu(client, owner)
        preview = await client.post(
            "/api/orders/preview",
            headers=owner,
            json={
                "orderType": "takeaway",
                "items": [
                    {
                        "productId": masala["Butter chicken"],
                        "quantity": 1,
                        "modifiers": [{"type": "Spice level", "value": "Medium"}],
                    },
                    {
                        "productId": masala["Garlic naan"],
                        "quantity": 1,
                        "modifiers": [{"type": "Extras", "value": "Extra butter"}],
                    },
                ],
            },
        )
    assert len(menu) >= 30
    assert order.status_code == 201, order.text
    data = order.json()["data"]
    # 31.50 + 2 x 20.00 + 4.90 + 8.00, VAT included; 12.5 % service on dine-in.
    assert (data["subtotal"], data["serviceCharge"], data["totalAmount"]) == (84.40, 10.55, 94.95)
    assert data["tableNumber"] == "5"
    stations = {item["productName"]: item["kitchenStation"] for item in data["items"]}
    assert stations == {
        "28-day aged ribeye steak (10oz)": "grill",
        "Fynlo beef burger": "grill",
        "Caffe latte": "bar",
        "Dark chocolate fondant": "pastry",
    }
    # Masala House: INR, 5 % GST added to the menu prices, no service charge.
    assert preview.status_code == 200, preview.text
    totals = preview.json()["data"]
    assert (totals["currency"], totals["subtotal"], totals["taxAmount"]) == ("INR", 520.0, 26.0)
    assert totals["totalAmount"] == 546.0


def test_create_platform_owner(migrated_db: Path) -> None:
    args = (
        "create-platform-owner",
        "--email",
        "Boss@Example.com",
        "--password",
        "A-long-passphrase-1",
    )
    created = _fynlo(migrated_db, *args)
    assert created.returncode == 0, created.stderr
    assert "Created platform owner boss@example.com" in created.stdout
    again = _fynlo(migrated_db, *args)
    assert again.returncode == 1
    assert "already exists" in again.stdout


def test_create_platform_owner_enforces_password_policy(migrated_db: Path) -> None:
    result = _fynlo(
        migrated_db, "create-platform-owner", "--email", "x@example.com", "--password", "short"
    )
    assert result.returncode == 2
    assert "at least 12 characters" in result.stderr


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = _fynlo(tmp_path / "empty.db", "serve", "--port", "1")
    assert result.returncode == 1
    assert "fynlo migrate" in result.stderr


def test_bad_configuration_is_reported_not_traced(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_SECRET", "_KEY"))}
    result = subprocess.run(
        [sys.executable, "-m", "fynlo.cli", "migrate"],
        env={**env, "FYNLO_ENVIRONMENT": "production"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Set FYNLO_JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


async def test_live_server_answers_over_a_real_socket(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        health = await client.get("/api/health")
        ready = await client.get("/api/ready")
    assert health.status_code == 200
    assert health.json()["success"] is True
    assert ready.status_code == 200


def test_demo_kitchen_printer_and_rota(demo_db: Path) -> None:
    # Every station a product is routed to exists, and each restaurant has one default.
    routed = _query(
        demo_db,
        "SELECT DISTINCT p.restaurant_id, coalesce(p.kitchen_station, c.kitchen_station) "
        "FROM products p JOIN categories c ON c.id = p.category_id",
    )
    stations = set(_query(demo_db, "SELECT restaurant_id, code FROM kitchen_stations"))
    assert set(routed) <= stations
    defaults = _query(
        demo_db,
        "SELECT restaurant_id, count(*) FROM kitchen_stations WHERE is_default "
        "GROUP BY restaurant_id",
    )
    assert sorted(n for _, n in defaults) == [1, 1, 1]

    bistro = _restaurant_id(demo_db, "Fynlo Bistro Soho")
    printers = _query(
        demo_db,
        "SELECT device_type, connection_type, configuration FROM hardware_devices "
        "WHERE restaurant_id = ?",
        bistro,
    )
    assert [(kind, link) for kind, link, _ in printers] == [("printer", "ethernet")]
    assert json.loads(printers[0][2])["port"] == 9100

    # Two weeks of published shifts for the six demo staff, two days off a week each.
    shifts = _query(
        demo_db,
        "SELECT u.role, s.starts_at, s.ends_at, s.published_at FROM shifts s "
        "JOIN users u ON u.id = s.user_id WHERE s.restaurant_id = ?",
        bistro,
    )
    assert len(shifts) == 6 * (14 - 4)
    assert all(published is not None for *_, published in shifts)
    assert all(end > start for _, start, end, _ in shifts)
    # Last week as worked: closed entries, 30 unpaid break minutes off the hours.
    entries = _query(
        demo_db,
        "SELECT clock_in, clock_out, break_minutes, total_hours, hourly_rate_minor "
        "FROM time_entries WHERE restaurant_id = ?",
        bistro,
    )
    assert len(entries) == 6 * (7 - 2)
    for clock_in, clock_out, unpaid, hours, rate in entries:
        assert clock_out is not None
        assert unpaid == 30
        assert rate == 1250
        span = (
            sqlite3.connect(":memory:")
            .execute("SELECT (julianday(?) - julianday(?)) * 24", (clock_out, clock_in))
            .fetchone()[0]
        )
        assert abs(float(hours) - (span - 0.5)) < 0.01
