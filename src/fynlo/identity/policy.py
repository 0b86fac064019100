"""Password policy, shared by the API and the CLI."""

from __future__ import annotations

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128


class PasswordPolicyError(ValueError):
    pass


def check_password_policy(password: str, *, email: str | None = None) -> None:
    """NIST 800-63B style: length matters, composition rules don't; reject the obvious."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters long"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"Password must be at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise PasswordPolicyError("Password is too repetitive")
    if email and email.split("@")[0].lower() in password.lower() and len(email.split("@")[0]) >= 4:
        raise PasswordPolicyError("Password must not contain your e-mail name")
