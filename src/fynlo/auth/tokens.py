"""JWTs: HS256 pinned, ``exp``/``iat``/``sub``/``aud``/``iss`` required, one secret per kind."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from fynlo.config import Settings
from fynlo.db.types import utc_now
from fynlo.kit.errors import Unauthorized

ALGORITHM = "HS256"
ACCESS_TTL = timedelta(minutes=15)
PIN_ACCESS_TTL = timedelta(minutes=30)
REFRESH_TTL = timedelta(days=7)
CHALLENGE_TTL = timedelta(minutes=5)

TokenType = Literal["access", "refresh", "2fa_challenge"]
_REQUIRED = ["exp", "iat", "sub", "aud", "iss", "typ", "jti"]


class InvalidToken(Unauthorized):
    code = "invalid_token"


VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    token_version: int
    pin_session: bool
    restaurant_id: uuid.UUID | None
    device_id: uuid.UUID | None
    family_id: uuid.UUID | None


def login_stamp(last_login: datetime | None) -> str:
    return last_login.isoformat() if last_login is not None else "never"


@dataclass(frozen=True)
class RefreshClaims:
    user_id: uuid.UUID
    token_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._access_secret = settings.jwt_secret.get_secret_value()
        self._refresh_secret = settings.jwt_refresh_secret.get_secret_value()
        # Access tokens already verified, with their expiry: a till sends the same token on
        # every request for 15 minutes, and checking its signature and claims again costs
        # more than the rest of the authentication. Revocation is checked per request
        # against the database (token version, session family), not here.
        self._verified: dict[str, tuple[AccessClaims, float]] = {}

    def _encode(self, claims: dict[str, Any], secret: str, ttl: timedelta) -> str:
        now = utc_now()
        payload = {
            **claims,
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "iat": now,
            "exp": now + ttl,
        }
        payload.setdefault("jti", uuid.uuid4().hex)
        return jwt.encode(payload, secret, algorithm=ALGORITHM)

    def _decode(self, token: str, secret: str, expected: TokenType) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("Token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"Invalid token: {exc}") from exc
        if claims.get("typ") != expected:
            raise InvalidToken(f"Expected a {expected} token")
        return claims

    def access_token(
        self,
        user_id: uuid.UUID,
        token_version: int,
        *,
        restaurant_id: uuid.UUID | None = None,
        pin_session: bool = False,
        device_id: uuid.UUID | None = None,
        family_id: uuid.UUID | None = None,
    ) -> str:
        claims: dict[str, Any] = {"sub": str(user_id), "typ": "access", "tv": token_version}
        if family_id is not None:
            claims["fam"] = str(family_id)
        if pin_session:
            claims |= {"pin": True, "rid": str(restaurant_id), "did": str(device_id)}
        ttl = PIN_ACCESS_TTL if pin_session else ACCESS_TTL
        return self._encode(claims, self._access_secret, ttl)

    def read_access(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[1]:
                return known[0]
            del self._verified[token]
            raise InvalidToken("Token has expired")
        claims = self._decode(token, self._access_secret, "access")
        try:
            pin = bool(claims.get("pin", False))
            access = AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                token_version=int(claims.get("tv", 0)),
                pin_session=pin,
                restaurant_id=uuid.UUID(claims["rid"]) if pin else None,
                device_id=uuid.UUID(claims["did"]) if pin else None,
                family_id=uuid.UUID(claims["fam"]) if "fam" in claims else None,
            )
            expires = float(claims["exp"])
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidToken("Malformed token claims") from exc
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # crude but bounded: the live tokens come back at once
        self._verified[token] = (access, expires)
        return access

    def refresh_token(self, user_id: uuid.UUID, token_id: uuid.UUID, family_id: uuid.UUID) -> str:
        return self._encode(
            {"sub": str(user_id), "typ": "refresh", "jti": str(token_id), "fam": str(family_id)},
            self._refresh_secret,
            REFRESH_TTL,
        )

    def read_refresh(self, token: str) -> RefreshClaims:
        claims = self._decode(token, self._refresh_secret, "refresh")
        try:
            return RefreshClaims(
                user_id=uuid.UUID(claims["sub"]),
                token_id=uuid.UUID(claims["jti"]),
                family_id=uuid.UUID(claims["fam"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=utc_now().tzinfo),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidToken("Malformed token claims") from exc

    def challenge_token(self, user_id: uuid.UUID, last_login: datetime | None) -> str:
        """Bound to the user's last sign-in: completing 2FA moves it, so a challenge is
        good for one sign-in only."""
        return self._encode(
            {"sub": str(user_id), "typ": "2fa_challenge", "lls": login_stamp(last_login)},
            self._access_secret,
            CHALLENGE_TTL,
        )

    def read_challenge(self, token: str) -> tuple[uuid.UUID, str]:
        """The challenged user and the :func:`login_stamp` the challenge was issued at."""
        claims = self._decode(token, self._access_secret, "2fa_challenge")
        try:
            return uuid.UUID(claims["sub"]), str(claims["lls"])
        except (KeyError, ValueError) as exc:
            raise InvalidToken("Malformed token claims") from exc

    def peek_subject(self, token: str) -> str | None:
        """The verified ``sub`` of an access token, or None (used to scope idempotency keys)."""
        try:
            return str(self._decode(token, self._access_secret, "access")["sub"])
        except Unauthorized:
            return None
