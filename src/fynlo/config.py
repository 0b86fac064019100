"""One settings class for the whole service, read from ``FYNLO_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["development", "test", "staging", "production"]

# Development defaults: usable on a laptop, refused anywhere else (see _refuse_default_secrets).
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"  # noqa: S105
DEV_JWT_REFRESH_SECRET = "dev-only-refresh-secret-change-me-0123456789ab"  # noqa: S105
DEV_DATA_KEY = "dev-only-data-encryption-key-change-me-01234567"
DEV_QR_SIGNING_KEY = "dev-only-qr-signing-key-change-me-0123456789ab"

_SECRET_DEFAULTS: dict[str, str] = {
    "jwt_secret": DEV_JWT_SECRET,
    "jwt_refresh_secret": DEV_JWT_REFRESH_SECRET,
    "data_encryption_key": DEV_DATA_KEY,
    "qr_signing_key": DEV_QR_SIGNING_KEY,
}
MIN_SECRET_LENGTH = 32


def _split_csv(value: Any) -> Any:
    """Accept ``a,b`` as well as a JSON list, because ops people write env vars by hand."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            import json

            return json.loads(stripped)
        return [item.strip() for item in stripped.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FYNLO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = "development"
    database_url: str = "sqlite+aiosqlite:///./fynlo.db"
    redis_url: str | None = None

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_refresh_secret: SecretStr = SecretStr(DEV_JWT_REFRESH_SECRET)
    data_encryption_key: SecretStr = SecretStr(DEV_DATA_KEY)
    qr_signing_key: SecretStr = SecretStr(DEV_QR_SIGNING_KEY)
    jwt_issuer: str = "fynlo"
    jwt_audience: str = "fynlo-api"

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:8081", "capacitor://localhost"]
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["127.0.0.1"])
    public_base_url: str = "http://127.0.0.1:8000"

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    rate_limit_default: str = "600/minute"
    login_rate_limit_ip: str = "30/minute"
    login_rate_limit_account: str = "10/minute"
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    idempotency_lock_seconds: int = Field(default=60, ge=1)

    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    db_echo: bool = False

    # argon2id cost; the defaults are OWASP's recommendation (m=19 MiB, t=2, p=1).
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19_456, ge=1024)

    # Outgoing mail (password reset links). Without FYNLO_SMTP_HOST mail is written to the
    # log instead (see fynlo.mail.mailer_from_settings).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str = "Fynlo <no-reply@fynlo.local>"

    log_level: str = "INFO"
    log_json: bool | None = None

    # Background work inside the API process: outbox dispatch, webhook delivery, connection
    # sweeps, pruning. Off only where something else runs it (and in most tests).
    background_work: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_retention_days: int = Field(default=7, ge=1)
    webhook_poll_seconds: float = Field(default=2.0, gt=0)
    # How often queued e-mail that is due (new, or waiting for a retry) is sent.
    mail_poll_seconds: float = Field(default=5.0, gt=0)
    # The print queue (network printers, raw ESC/POS on host:port): how often jobs due for a
    # retry are looked for (new jobs go at once), how long one send may take, how many tries
    # before a job is marked failed (kept for a reprint), and the diagnostics probe's timeout.
    print_poll_seconds: float = Field(default=2.0, gt=0)
    printer_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    print_max_attempts: int = Field(default=10, ge=1, le=100)
    printer_probe_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # May a printer's address be this server's own host (127.0.0.0/8, ::1)? Unset: only in
    # development and test (the demo printer is 127.0.0.1:9100). Set it where a print proxy
    # runs beside the server. Link-local, multicast and reserved addresses are never allowed.
    printer_allow_loopback: bool | None = None
    # Socket.IO: incoming messages larger than this, or more than
    # socket_messages_per_window in socket_window_seconds, get an error event and a disconnect.
    socket_max_message_bytes: int = Field(default=16_384, ge=256)
    socket_messages_per_window: int = Field(default=30, ge=1)
    socket_window_seconds: float = Field(default=10.0, gt=0)
    # How often a replica refreshes its connections' last_ping, re-checks their accounts and
    # marks connections of dead replicas inactive (after three missed sweeps).
    socket_sweep_seconds: float = Field(default=15.0, gt=0)
    # Redis pub/sub channel shared by the replicas of one deployment.
    socketio_channel: str = "fynlo-socketio"
    # Redis stream of the job queue (fynlo worker / fynlo scheduler).
    jobs_queue: str = "fynlo-jobs"

    # Payments. Without a provider's keys the sandbox stands in (demo and development only).
    qr_expiry_minutes: int = Field(default=15, ge=1, le=24 * 60)
    qr_max_extensions: int = Field(default=3, ge=0)
    # A pending QR payment is polled at the bank after this long without a webhook.
    qr_poll_after_seconds: float = Field(default=30.0, gt=0)
    qr_sweep_seconds: float = Field(default=30.0, gt=0)
    # The open-banking provider of QR payments: the built-in demo bank (development and test
    # only) or TrueLayer (Payments API v3).
    qr_provider: Literal["sandbox", "truelayer"] = "sandbox"
    truelayer_client_id: str | None = None
    truelayer_client_secret: SecretStr | None = None
    truelayer_signing_key_pem: SecretStr | None = None  # EC P-521 private key, PEM
    truelayer_signing_key_id: str | None = None
    truelayer_merchant_account_id: str | None = None
    truelayer_api_base: str = "https://api.truelayer.com"
    truelayer_auth_base: str = "https://auth.truelayer.com"
    truelayer_hpp_base: str = "https://payment.truelayer.com"
    truelayer_return_uri: str | None = None  # default: the public base URL
    truelayer_webhook_jwks_url: str | None = None
    bank_webhook_secret: SecretStr = SecretStr("dev-only-bank-webhook-secret-change-me-0123")
    payment_provider_timeout_seconds: float = Field(default=10.0, gt=0)
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None  # another Stripe-compatible API (tests, stripe-mock)
    razorpay_key_id: str | None = None
    razorpay_key_secret: SecretStr | None = None
    razorpay_webhook_secret: SecretStr | None = None
    razorpay_api_base: str | None = None

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment == "development":
            return self
        for field, default in _SECRET_DEFAULTS.items():
            value: SecretStr = getattr(self, field)
            env_name = f"FYNLO_{field.upper()}"
            if value.get_secret_value() == default:
                raise ValueError(
                    f"{env_name} still has its development default, which is refused when "
                    f"FYNLO_ENVIRONMENT={self.environment}. Set {env_name} to a random value, "
                    "e.g. the output of: "
                    "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
            if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"{env_name} is shorter than {MIN_SECRET_LENGTH} characters; set it to a "
                    "longer random value."
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment in ("staging", "production")

    @property
    def printers_may_use_loopback(self) -> bool:
        if self.printer_allow_loopback is not None:
            return self.printer_allow_loopback
        return self.environment in ("development", "test")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
