"""Outgoing e-mail: SMTP in deployments, the log in development."""

from fynlo.mail.adapter import (
    LogMailer,
    Mailer,
    SmtpMailer,
    build_message,
    mailer_from_settings,
    send_in_background,
    wait_for_pending_mail,
)

__all__ = [
    "LogMailer",
    "Mailer",
    "SmtpMailer",
    "build_message",
    "mailer_from_settings",
    "send_in_background",
    "wait_for_pending_mail",
]
