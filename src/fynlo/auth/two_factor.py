"""Two-factor authentication (TOTP, RFC 6238) and its recovery codes: ``/api/auth/2fa``.

The seed is stored encrypted (``FYNLO_DATA_ENCRYPTION_KEY``) and shown once, at setup. A code
is accepted only for a time step later than the last one used, so an observed code cannot be
replayed. Recovery codes are stored as SHA-256 digests and work once each. Wrong codes count
as failed sign-in attempts, so the account lockout of password sign-in applies.
"""

from __future__ import annotations

import base64
import hmac
import io
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Self

import pyotp
import segno
from fastapi import Depends, Request
from pydantic import Field, model_validator
from sqlalchemy import delete, func, select, update

from fynlo.auth.crypto import decrypt, encrypt, sha256_hex
from fynlo.auth.schemas import LoginOut
from fynlo.auth.service import AuthService
from fynlo.auth.subject import CurrentSubject, Subject, request_actor
from fynlo.auth.tokens import InvalidToken, login_stamp
from fynlo.db.types import utc_now
from fynlo.kit.errors import Conflict, Forbidden, Unauthorized, Unprocessable
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, RequestSchema, Schema, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import RecoveryCode, User
from fynlo.runtime import get_runtime

ISSUER = "Fynlo"
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 10
# No 0/o, 1/l/i: codes are read off paper and typed by hand.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

two_factor_router = router(prefix="/api/auth/2fa", tags=["auth"])


def _clock() -> float:
    """Seconds since the epoch (one seam, so tests can move time)."""
    return time.time()


# --- errors -------------------------------------------------------------------------------


class TwoFactorAlreadyEnabled(Conflict):
    code = "two_factor_already_enabled"
    default_message = "Two-factor authentication is already enabled; disable it first"


class TwoFactorNotEnabled(Conflict):
    code = "two_factor_not_enabled"
    default_message = "Two-factor authentication is not enabled for this account"


class TwoFactorNotSetUp(Conflict):
    code = "two_factor_not_set_up"
    default_message = "Start two-factor setup first (POST /api/auth/2fa/setup)"


class PinSessionRefused(Forbidden):
    code = "pin_session_not_allowed"
    default_message = "Two-factor settings cannot be changed from a PIN session at a till"


class InvalidTwoFactorCode(Forbidden):
    """A wrong code (or password) from a signed-in user: 403, so the session is not dropped."""

    code = "invalid_two_factor_code"
    default_message = "The authentication code is incorrect, expired or already used"
    commit_changes = True  # the failed-attempt counter and its audit row persist


class IncorrectPassword(Forbidden):
    code = "invalid_credentials"
    default_message = "The password is incorrect"
    commit_changes = True


class TwoFactorLoginFailed(Unauthorized):
    code = "invalid_two_factor_code"
    default_message = "The authentication code is incorrect, expired or already used"
    commit_changes = True


# --- schemas ------------------------------------------------------------------------------

TotpCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6 digits from the app")]
RecoveryCodeStr = Annotated[
    str,
    Field(min_length=8, max_length=32, description="One of the recovery codes, e.g. 'abcde-fghjk'"),
]


class TwoFactorSetupOut(Schema):
    secret: str = Field(description="Base32 seed, for manual entry; shown only here")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as an SVG QR code")
    qr_png_base64: str = Field(description="The same QR code as a base64 PNG")


class TwoFactorCodeIn(RequestSchema):
    code: TotpCode


class TwoFactorEnabledOut(Schema):
    enabled: bool = True
    recovery_codes: list[str] = Field(description="Shown once; each works once")


class TwoFactorDisableIn(RequestSchema):
    password: str | None = Field(default=None, min_length=1, max_length=128)
    code: TotpCode | None = None

    @model_validator(mode="after")
    def _needs_proof(self) -> Self:
        if self.password is None and self.code is None:
            raise ValueError("Send the current password or a code from the authenticator app")
        return self


class TwoFactorDisabledOut(Schema):
    enabled: bool = False


class RecoveryCodesOut(Schema):
    recovery_codes: list[str] = Field(description="Shown once; the previous codes stop working")


class TwoFactorVerifyIn(RequestSchema):
    challenge_token: str = Field(min_length=1, max_length=2048)
    code: TotpCode | None = None
    recovery_code: RecoveryCodeStr | None = None

    @model_validator(mode="after")
    def _one_method(self) -> Self:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("Send exactly one of 'code' and 'recoveryCode'")
        return self


# --- service ------------------------------------------------------------------------------


def _normalise_recovery_code(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalnum())


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    half = RECOVERY_CODE_LENGTH // 2
    return f"{raw[:half]}-{raw[half:]}"


def _qr(uri: str) -> tuple[str, str]:
    qr = segno.make(uri, error="m")
    svg = io.BytesIO()
    qr.save(svg, kind="svg", scale=4, xmldecl=False)
    png = io.BytesIO()
    qr.save(png, kind="png", scale=5)
    return svg.getvalue().decode(), base64.b64encode(png.getvalue()).decode()


@dataclass
class TwoFactorService:
    auth: AuthService
    encryption_key: str

    async def _lock(self, user_id: uuid.UUID) -> User | None:
        """The user row, locked, so two requests cannot both spend the same code."""
        result = await self.auth.session.execute(
            select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def _locked(self, subject: Subject) -> User:
        if subject.pin_session:
            raise PinSessionRefused()
        user = await self._lock(subject.user.id)
        if user is None:  # pragma: no cover - the subject was just loaded
            raise InvalidToken("Token refers to an unknown user")
        return user

    def _matching_step(self, user: User, code: str) -> int | None:
        """The time step ``code`` belongs to (now ±1), if later than the last one used."""
        if user.two_factor_secret is None:
            return None
        totp = pyotp.TOTP(decrypt(self.encryption_key, user.two_factor_secret))
        now = _clock()
        if not totp.verify(code, for_time=now, valid_window=1):
            return None
        current = totp.timecode(now)
        last = user.two_factor_last_step if user.two_factor_last_step is not None else -1
        for step in (current + 1, current, current - 1):
            if step > last and hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    async def _accept_code(self, user: User, code: str, failure_action: str) -> bool:
        """Check a TOTP code; a wrong one counts towards the lockout (and is audited)."""
        await self.auth._check_lock(user)
        step = self._matching_step(user, code)
        if step is None:
            await self.auth._register_failure(user, failure_action)
            return False
        user.two_factor_last_step = step
        user.failed_login_count = 0
        return True

    async def _replace_recovery_codes(self, user: User) -> list[str]:
        await self.auth.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        self.auth.session.add_all(
            RecoveryCode(
                id=uuid.uuid4(),
                user_id=user.id,
                code_hash=sha256_hex(_normalise_recovery_code(code)),
            )
            for code in codes
        )
        await self.auth.session.flush()
        return codes

    async def setup(self, subject: Subject) -> TwoFactorSetupOut:
        user = await self._locked(subject)
        if user.two_factor_enabled:
            raise TwoFactorAlreadyEnabled()
        secret = pyotp.random_base32()
        user.two_factor_secret = encrypt(self.encryption_key, secret)
        user.two_factor_last_step = None
        await self.auth._audit(user, "auth.2fa_setup_started")
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
        svg, png = _qr(uri)
        return TwoFactorSetupOut(secret=secret, otpauth_uri=uri, qr_svg=svg, qr_png_base64=png)

    async def confirm(self, subject: Subject, code: str) -> list[str]:
        user = await self._locked(subject)
        if user.two_factor_enabled:
            raise TwoFactorAlreadyEnabled()
        if user.two_factor_secret is None:
            raise TwoFactorNotSetUp()
        if not await self._accept_code(user, code, "auth.2fa_confirm_failed"):
            raise InvalidTwoFactorCode()
        user.two_factor_enabled = True
        codes = await self._replace_recovery_codes(user)
        await self.auth._audit(user, "auth.2fa_enabled", recovery_codes=len(codes))
        return codes

    async def disable(self, subject: Subject, password: str | None, code: str | None) -> None:
        user = await self._locked(subject)
        if not user.two_factor_enabled:
            raise TwoFactorNotEnabled()
        await self.auth._check_lock(user)
        if password is not None and not await self.auth._password_ok(user, password):
            await self.auth._register_failure(user, "auth.2fa_disable_failed")
            raise IncorrectPassword()
        if code is not None and not await self._accept_code(user, code, "auth.2fa_disable_failed"):
            raise InvalidTwoFactorCode()
        user.failed_login_count = 0
        user.two_factor_enabled = False
        user.two_factor_secret = None
        user.two_factor_last_step = None
        await self.auth.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        await self.auth._audit(
            user, "auth.2fa_disabled", proof="password" if password is not None else "code"
        )

    async def regenerate_recovery_codes(self, subject: Subject, code: str) -> list[str]:
        user = await self._locked(subject)
        if not user.two_factor_enabled:
            raise TwoFactorNotEnabled()
        if not await self._accept_code(user, code, "auth.2fa_recovery_codes_failed"):
            raise InvalidTwoFactorCode()
        codes = await self._replace_recovery_codes(user)
        await self.auth._audit(user, "auth.2fa_recovery_codes_regenerated", count=len(codes))
        return codes

    async def _spend_recovery_code(self, user: User, recovery_code: str) -> bool:
        digest = sha256_hex(_normalise_recovery_code(recovery_code))
        row_id = await self.auth.session.scalar(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == digest,
                RecoveryCode.used_at.is_(None),
            )
        )
        if row_id is None:
            return False
        spent = await self.auth.session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
            .values(used_at=utc_now())
            .returning(RecoveryCode.id)
        )
        return spent.scalar_one_or_none() is not None

    async def verify_login(
        self, challenge_token: str, code: str | None, recovery_code: str | None
    ) -> User:
        """Second step of sign-in: the user the challenge names, if the code is right."""
        user_id, stamp = self.auth.tokens.read_challenge(challenge_token)
        await self.auth.limiter.check(
            self.auth.limit_per_account,
            "2fa-verify",
            str(user_id),
            message="Too many two-factor attempts for this account; wait and retry",
        )
        user = await self._lock(user_id)
        if (
            user is None
            or not user.is_active
            or not user.two_factor_enabled
            or login_stamp(user.last_login) != stamp
        ):
            raise InvalidToken("This sign-in challenge is no longer valid; sign in again")
        await self.auth._check_lock(user)
        if code is not None:
            accepted = await self._accept_code(user, code, "auth.2fa_login_failed")
            method = "totp"
        elif recovery_code is not None:
            accepted = await self._spend_recovery_code(user, recovery_code)
            if not accepted:
                await self.auth._register_failure(user, "auth.2fa_login_failed")
            method = "recovery_code"
        else:  # TwoFactorVerifyIn already refuses this
            raise Unprocessable("Send exactly one of 'code' and 'recoveryCode'")
        if not accepted:
            raise TwoFactorLoginFailed()
        user.failed_login_count = 0
        user.locked_until = None
        details: dict[str, object] = {"method": method}
        if method == "recovery_code":
            details["recoveryCodesLeft"] = await self.auth.session.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
            )
        await self.auth._audit(user, "auth.2fa_login_succeeded", **details)
        return user


# --- endpoints ----------------------------------------------------------------------------


def _auth_service(request: Request, session: SessionDep, subject: Subject | None) -> AuthService:
    runtime = get_runtime(request)
    actor = subject.actor if subject is not None else request_actor(request)
    return AuthService(
        session,
        runtime.tokens,
        runtime.rate_limiter,
        actor,
        limit_per_ip=runtime.settings.login_rate_limit_ip,
        limit_per_account=runtime.settings.login_rate_limit_account,
    )


def _service(auth: AuthService, request: Request) -> TwoFactorService:
    key = get_runtime(request).settings.data_encryption_key.get_secret_value()
    return TwoFactorService(auth, key)


async def signed_in_service(
    request: Request, session: SessionDep, subject: CurrentSubject
) -> TwoFactorService:
    return _service(_auth_service(request, session, subject), request)


async def anonymous_service(request: Request, session: SessionDep) -> TwoFactorService:
    return _service(_auth_service(request, session, None), request)


SignedInService = Annotated[TwoFactorService, Depends(signed_in_service)]
AnonymousService = Annotated[TwoFactorService, Depends(anonymous_service)]


@two_factor_router.post(
    "/setup",
    response_model=Envelope[TwoFactorSetupOut],
    summary="Start two-factor setup (returns the seed and its QR code once)",
    description="Generates a new TOTP seed, kept pending until `POST /api/auth/2fa/confirm`. "
    "Calling it again replaces a pending seed. 409 if two-factor is already enabled; 403 from "
    "a PIN session.",
)
async def setup(subject: CurrentSubject, service: SignedInService) -> Envelope[TwoFactorSetupOut]:
    return ok(await service.setup(subject))


@two_factor_router.post(
    "/confirm",
    response_model=Envelope[TwoFactorEnabledOut],
    summary="Enable two-factor with a first code; returns 10 recovery codes once",
)
async def confirm(
    body: TwoFactorCodeIn, subject: CurrentSubject, service: SignedInService
) -> Envelope[TwoFactorEnabledOut]:
    codes = await service.confirm(subject, body.code)
    return ok(TwoFactorEnabledOut(enabled=True, recovery_codes=codes))


@two_factor_router.post(
    "/disable",
    response_model=Envelope[TwoFactorDisabledOut],
    summary="Disable two-factor (needs the password or a current code)",
    description="Clears the seed and deletes the recovery codes. A wrong password or code is "
    "a 403 and counts as a failed sign-in attempt.",
)
async def disable(
    body: TwoFactorDisableIn, subject: CurrentSubject, service: SignedInService
) -> Envelope[TwoFactorDisabledOut]:
    await service.disable(subject, body.password, body.code)
    return ok(TwoFactorDisabledOut())


@two_factor_router.post(
    "/recovery-codes",
    response_model=Envelope[RecoveryCodesOut],
    summary="Replace the recovery codes (needs a current code)",
)
async def regenerate_recovery_codes(
    body: TwoFactorCodeIn, subject: CurrentSubject, service: SignedInService
) -> Envelope[RecoveryCodesOut]:
    return ok(
        RecoveryCodesOut(recovery_codes=await service.regenerate_recovery_codes(subject, body.code))
    )


@two_factor_router.post(
    "/verify",
    response_model=Envelope[LoginOut],
    summary="Complete a sign-in with a TOTP code or a recovery code",
    description="Takes the `challengeToken` from `POST /api/auth/login` (valid 5 minutes) and "
    "either `code` or `recoveryCode`; answers like a successful login. Wrong codes count "
    "towards the lockout of the account.",
)
async def verify(body: TwoFactorVerifyIn, service: AnonymousService) -> Envelope[LoginOut]:
    user = await service.verify_login(body.challenge_token, body.code, body.recovery_code)
    return ok(await service.auth.login_response(user))
