"""Settings: defaults, parsing, and refusal of development secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fynlo.config import Settings

STRONG = "s" * 48


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FYNLO_ENVIRONMENT",
        "FYNLO_JWT_SECRET",
        "FYNLO_JWT_REFRESH_SECRET",
        "FYNLO_DATA_ENCRYPTION_KEY",
        "FYNLO_QR_SIGNING_KEY",
        "FYNLO_DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_development_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "development"
    assert settings.database_url == "sqlite+aiosqlite:///./fynlo.db"
    assert settings.redis_url is None
    assert settings.cors_origins == ["http://localhost:8081", "capacitor://localhost"]
    assert settings.is_sqlite


@pytest.mark.parametrize("environment", ["production", "staging", "test"])
def test_default_secrets_are_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("FYNLO_ENVIRONMENT", environment)
    with pytest.raises(ValidationError, match="FYNLO_JWT_SECRET") as info:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "Set FYNLO_JWT_SECRET to a random value" in str(info.value)


def test_each_default_secret_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("FYNLO_ENVIRONMENT", "production")
    monkeypatch.setenv("FYNLO_JWT_SECRET", STRONG)
    monkeypatch.setenv("FYNLO_JWT_REFRESH_SECRET", STRONG + "r")
    with pytest.raises(ValidationError, match="FYNLO_DATA_ENCRYPTION_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_short_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("FYNLO_ENVIRONMENT", "production")
    monkeypatch.setenv("FYNLO_JWT_SECRET", "short")
    with pytest.raises(ValidationError, match="shorter than 32"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def _real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for i, name in enumerate(
        ("JWT_SECRET", "JWT_REFRESH_SECRET", "DATA_ENCRYPTION_KEY", "QR_SIGNING_KEY")
    ):
        monkeypatch.setenv(f"FYNLO_{name}", STRONG + str(i))


def test_production_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("FYNLO_ENVIRONMENT", "production")
    _real_secrets(monkeypatch)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.json_logs is True
    assert settings.printers_may_use_loopback is False
    monkeypatch.setenv("FYNLO_PRINTER_ALLOW_LOOPBACK", "true")  # a print proxy on the host
    assert Settings(_env_file=None).printers_may_use_loopback is True  # type: ignore[call-arg]


@pytest.mark.parametrize("environment", ["development", "test"])
def test_printers_may_be_on_loopback_in_development_and_tests(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("FYNLO_ENVIRONMENT", environment)
    _real_secrets(monkeypatch)
    assert Settings(_env_file=None).printers_may_use_loopback is True  # type: ignore[call-arg]
    monkeypatch.setenv("FYNLO_PRINTER_ALLOW_LOOPBACK", "false")
    assert Settings(_env_file=None).printers_may_use_loopback is False  # type: ignore[call-arg]


def test_lists_accept_comma_separated_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FYNLO_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("FYNLO_TRUSTED_PROXIES", '["10.0.0.1", "10.0.0.2"]')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.trusted_proxies == ["10.0.0.1", "10.0.0.2"]
