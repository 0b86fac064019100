"""The ``fynlo`` command: serve, migrate, demo data and administration."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from fynlo.config import Settings, get_settings

app = typer.Typer(
    help="Fynlo restaurant POS backend.", no_args_is_help=True, pretty_exceptions_enable=False
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            err_console.print(f"[red]Configuration error:[/red] {message}", soft_wrap=True)
        raise typer.Exit(2) from exc


def _run(factory: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    settings = _settings()
    return asyncio.run(factory(settings))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Serve the API (and Socket.IO) with uvicorn. Refuses to start on an old schema."""
    import uvicorn

    from fynlo.db.engine import create_engine
    from fynlo.db.migrate import SchemaOutOfDate, ensure_schema_current

    async def check(settings: Settings) -> None:
        engine = create_engine(settings)
        try:
            await ensure_schema_current(engine)
        finally:
            await engine.dispose()

    try:
        _run(check)
    except SchemaOutOfDate as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    settings = _settings()
    uvicorn.run(
        "fynlo.app:create_asgi_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the app applies FYNLO_TRUSTED_PROXIES itself
        access_log=False,
        log_config=None,
        server_header=False,
        # Events are small JSON sent to many sockets at once: compressing each frame for
        # each client costs more CPU than the bytes it saves, and an uncompressed connection
        # gets a broadcast's frame written straight to it (fynlo.realtime.fanout).
        ws_per_message_deflate=False,
        ws="websockets-sansio",  # the connection fynlo.realtime.fanout writes to directly
        timeout_graceful_shutdown=10,
        log_level=settings.log_level.lower(),
    )


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Upgrade the database schema (creates the SQLite file if needed)."""
    from fynlo.db.engine import create_engine
    from fynlo.db.migrate import current_revisions, upgrade

    async def run(settings: Settings) -> set[str]:
        engine = create_engine(settings)
        try:
            await upgrade(engine, revision)
            return await current_revisions(engine)
        finally:
            await engine.dispose()

    current = _run(run)
    console.print(f"Database at revision {', '.join(sorted(current))}")


@app.command()
def demo() -> None:
    """Load demo data (restaurants, staff, a till, menus, tables, stock); print the logins."""
    from fynlo.db.engine import create_engine, create_sessionmaker, write_intent
    from fynlo.demo.loader import DEMO_PASSWORD, DemoLoader, DemoReport

    async def run(settings: Settings) -> DemoReport:
        engine = create_engine(settings)
        try:
            async with write_intent(), create_sessionmaker(engine)() as session, session.begin():
                loader = DemoLoader(session)
                steps = loader.steps()
                with Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(),
                    console=console,
                ) as progress:
                    task = progress.add_task("Loading demo data", total=len(steps))
                    for label, step in steps:
                        progress.update(task, description=f"Loading {label}")
                        await step()
                        progress.advance(task)
                return loader.report
        finally:
            await engine.dispose()

    report = _run(run)
    created = ", ".join(f"{n} {kind}" for kind, n in report.created.items())
    console.print(f"Created: {created} (rows already present were kept)")
    table = Table(title=f"Demo logins (password for all: {DEMO_PASSWORD})")
    for column in ("E-mail", "Role", "Restaurant", "PIN"):
        table.add_column(column)
    for login in report.logins:
        table.add_row(login.email, login.role, login.restaurant or "-", login.pin or "-")
    console.print(table)
    if report.device_token:
        console.print(
            "PIN sign-in on the demo till: POST /api/auth/pin-login {userId, pin} with header "
            f"X-Device-Token: {report.device_token}",
            soft_wrap=True,
        )


@app.command("create-platform-owner")
def create_platform_owner(
    email: Annotated[str, typer.Option(help="Login e-mail")],
    password: Annotated[str, typer.Option(help="Password (at least 12 characters)")],
    first_name: Annotated[str, typer.Option(help="First name")] = "Platform",
    last_name: Annotated[str, typer.Option(help="Last name")] = "Owner",
    platform_name: Annotated[str, typer.Option(help="Platform to create or join")] = "Fynlo",
) -> None:
    """Create the platform (if needed) and its owner account, without prompting."""
    from fynlo.auth.passwords import hash_secret
    from fynlo.db.engine import create_engine, create_sessionmaker, write_intent
    from fynlo.identity.policy import PasswordPolicyError, check_password_policy
    from fynlo.models import Platform, User

    try:
        check_password_policy(password, email=email)
    except PasswordPolicyError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    normalized = email.strip().lower()

    async def run(settings: Settings) -> str:
        engine = create_engine(settings)
        try:
            async with write_intent(), create_sessionmaker(engine)() as session, session.begin():
                if await session.scalar(select(User.id).where(User.email == normalized)):
                    return f"A user with e-mail {normalized} already exists; nothing changed."
                platform = await session.scalar(
                    select(Platform).where(Platform.name == platform_name)
                )
                if platform is None:
                    platform = Platform(name=platform_name, owner_email=normalized)
                    session.add(platform)
                    await session.flush()
                session.add(
                    User(
                        email=normalized,
                        password_hash=await hash_secret(password),
                        first_name=first_name,
                        last_name=last_name,
                        role="platform_owner",
                        platform_id=platform.id,
                    )
                )
                return f"Created platform owner {normalized} on platform '{platform.name}'."
        finally:
            await engine.dispose()

    message = _run(run)
    console.print(message)
    if "already exists" in message:
        raise typer.Exit(1)


audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute every audit chain; report the first broken link of each. Exit 1 if any."""
    from fynlo.audit.service import ChainReport, verify_all
    from fynlo.db.engine import create_engine, create_sessionmaker

    async def run(settings: Settings) -> list[ChainReport]:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                return await verify_all(session)
        finally:
            await engine.dispose()

    reports = _run(run)
    broken = [r for r in reports if not r.ok]
    for report in reports:
        if report.ok:
            console.print(f"chain {report.chain_key}: {report.rows} rows, intact")
        else:
            console.print(
                f"[red]chain {report.chain_key}: broken at row {report.broken_at_seq}: "
                f"{report.reason}[/red]"
            )
    console.print(f"{len(reports)} chains checked, {len(broken)} broken")
    if broken:
        raise typer.Exit(1)


def _taskiq(arguments: list[str]) -> None:
    settings = _settings()
    if not settings.redis_url:
        err_console.print(
            "[red]Jobs in separate processes need FYNLO_REDIS_URL. Without Redis the API "
            "process runs the background work itself (FYNLO_BACKGROUND_WORK=true).[/red]"
        )
        raise typer.Exit(2)
    os.execv(sys.executable, [sys.executable, "-m", "taskiq", *arguments])  # noqa: S606


@app.command()
def worker(
    processes: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Run background jobs from the Redis queue (outbox dispatch, webhooks, pruning)."""
    _taskiq(
        [
            "worker",
            "fynlo.jobs.broker:broker",
            "fynlo.jobs.tasks",
            "--workers",
            str(processes),
            "--no-configure-logging",
        ]
    )


@app.command()
def scheduler() -> None:
    """Kick the periodic jobs into the Redis queue (run with FYNLO_BACKGROUND_WORK=false
    on the API replicas)."""
    _taskiq(["scheduler", "fynlo.jobs.scheduler:scheduler", "--skip-first-run"])


@app.command("makemigration")
def makemigration(message: Annotated[str, typer.Argument(help="What the migration does")]) -> None:
    """Autogenerate a migration from the models (developers)."""
    from alembic import command

    from fynlo.db.engine import create_engine
    from fynlo.db.migrate import alembic_config

    async def run(settings: Settings) -> None:
        engine = create_engine(settings)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(
                    lambda c: command.revision(alembic_config(c), message, autogenerate=True)
                )
        finally:
            await engine.dispose()

    _run(run)


if __name__ == "__main__":
    app()
