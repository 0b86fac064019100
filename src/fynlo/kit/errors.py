"""Domain errors: each carries its HTTP status and a stable machine code.

Services raise these; one handler (:mod:`fynlo.kit.handlers`) renders them into the
envelope ``{"success": false, "error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar


class FynloError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal server error"
    # True for refusals whose bookkeeping must persist (failed-login counters, the audit
    # row of a detected token theft): the request's transaction commits, then the error
    # is answered.
    commit_changes: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(FynloError):
    status_code = 400
    code = "bad_request"
    default_message = "Bad request"


class Unauthorized(FynloError):
    status_code = 401
    code = "unauthorized"
    default_message = "Authentication required"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message, details=details, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(FynloError):
    status_code = 403
    code = "forbidden"
    default_message = "You are not allowed to do this"


class PermissionDenied(Forbidden):
    code = "permission_denied"

    def __init__(self, permission: str) -> None:
        super().__init__(f"Missing permission '{permission}'", details={"permission": permission})


class MissingAnyPermission(Forbidden):
    """For an endpoint that any one of several permissions opens."""

    code = "permission_denied"

    def __init__(self, permissions: tuple[str, ...]) -> None:
        super().__init__(
            "Missing permission: one of " + ", ".join(f"'{p}'" for p in permissions),
            details={"permission": permissions[0], "anyOf": list(permissions)},
        )


class NotFound(FynloError):
    status_code = 404
    code = "not_found"
    default_message = "Not found"


class ResourceNotFound(NotFound):
    def __init__(self, resource: str, identifier: object) -> None:
        super().__init__(
            f"{resource} {identifier} not found",
            details={"resource": resource, "id": str(identifier)},
        )


class Conflict(FynloError):
    status_code = 409
    code = "conflict"
    default_message = "Conflict with the current state"


class AlreadyExists(Conflict):
    code = "already_exists"

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message, details={"fields": fields})


class InvalidStateTransition(Conflict):
    code = "invalid_state_transition"

    def __init__(self, resource: str, current: str, requested: str, allowed: Iterable[str]) -> None:
        allowed_list = sorted(allowed)
        super().__init__(
            f"{resource} cannot go from '{current}' to '{requested}'; allowed: "
            + (", ".join(allowed_list) if allowed_list else "none (final state)"),
            details={"current": current, "requested": requested, "allowed": allowed_list},
        )


class StaleVersion(Conflict):
    code = "stale_version"

    def __init__(self, resource: str, expected: int, actual: int) -> None:
        super().__init__(
            f"{resource} was changed by someone else (you sent version {expected}, "
            f"current is {actual}); reload and retry",
            details={"expectedVersion": expected, "currentVersion": actual},
        )


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_message = (
        "This Idempotency-Key was already used with a different request; use a new key"
    )


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed; retry shortly"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class Unprocessable(FynloError):
    status_code = 422
    code = "validation_error"
    default_message = "The request is not valid"


class PayloadTooLarge(FynloError):
    status_code = 413
    code = "payload_too_large"
    default_message = "Request body too large"


class RateLimited(FynloError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        retry_after_seconds = max(1, retry_after_seconds)
        super().__init__(
            message or f"Too many requests; retry in {retry_after_seconds} s",
            details={"retryAfter": retry_after_seconds},
            headers={"Retry-After": str(retry_after_seconds)},
        )


class ServiceUnavailable(FynloError):
    status_code = 503
    code = "service_unavailable"
    default_message = "Service unavailable"
