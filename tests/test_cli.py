"""The ``fynlo`` command, run as a real process on a fresh SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer


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
    assert "Created: 1 platforms, 9 users, 3 restaurants, 1 tills" in first.stdout
    assert "manager@fynlo.demo" in first.stdout
    users, restaurants = _count(migrated_db, "users"), _count(migrated_db, "restaurants")
    second = _fynlo(migrated_db, "demo")
    assert second.returncode == 0, second.stderr
    assert "Created: 0 platforms, 0 users, 0 restaurants, 0 tills" in second.stdout
    assert (_count(migrated_db, "users"), _count(migrated_db, "restaurants")) == (
        users,
        restaurants,
    )


async def test_demo_till_accepts_a_pin_sign_in(migrated_db: Path) -> None:
    loaded = _fynlo(migrated_db, "demo")
    assert "X-Device-Token: demo-till-fynlo-bistro-soho" in loaded.stdout
    with sqlite3.connect(migrated_db) as conn:
        waiter_id = conn.execute(
            "SELECT id FROM users WHERE email = 'waiter@fynlo.demo'"
        ).fetchone()[0]
    server = LiveServer({"FYNLO_DATABASE_URL": f"sqlite+aiosqlite:///{migrated_db}"})
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post(
                "/api/auth/pin-login",
                json={"userId": str(uuid.UUID(waiter_id)), "pin": "1004"},
                headers={"X-Device-Token": "demo-till-fynlo-bistro-soho"},
            )
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"]["role"] == "waiter"


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
