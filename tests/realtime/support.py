"""A real server on a loopback port (uvicorn, Socket.IO included) and real clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import socketio
import uvicorn
from fastapi import FastAPI

from fynlo.app import create_app
from fynlo.config import Settings
from fynlo.models import User
from tests.factories import DEFAULT_PASSWORD

WAIT_SECONDS = 5.0
QUIET_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    http: httpx.AsyncClient


@asynccontextmanager
async def live_server(
    settings: Settings, *, per_message_deflate: bool = False, **overrides: Any
) -> AsyncIterator[LiveServer]:
    """The whole ASGI app (API + Socket.IO + background work) under uvicorn on loopback,
    WebSocket as in ``fynlo serve`` (compression off unless ``per_message_deflate``)."""
    settings = settings.model_copy(
        update={
            "background_work": True,
            "outbox_poll_seconds": 0.2,
            "webhook_poll_seconds": 0.5,
            **overrides,
        }
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app.state.gateway.asgi(app),
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_level="warning",
            ws="websockets-sansio",
            ws_per_message_deflate=per_message_deflate,
            # A client left connected must not keep the shutdown (and the test) waiting.
            timeout_graceful_shutdown=5,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.025)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield LiveServer(url, app, http)
    finally:
        server.should_exit = True
        await task


async def token_of(http: httpx.AsyncClient, user: User) -> str:
    response = await http.post(
        "/api/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["tokens"]["access"]
    return token


@dataclass
class Listener:
    """A Socket.IO client that records every event it receives."""

    client: socketio.AsyncClient
    received: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    in_order: list[tuple[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, event: str, timeout: float = WAIT_SECONDS) -> Any:
        """The first ``event`` received (waiting for it if need be)."""
        async with asyncio.timeout(timeout):
            while not self.received[event]:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received[event][0]

    async def quiet(self, event: str, seconds: float = QUIET_SECONDS) -> list[Any]:
        """Whatever ``event`` arrives within ``seconds`` (to show that nothing does)."""
        await asyncio.sleep(seconds)
        return list(self.received[event])

    async def disconnected(self, timeout: float = WAIT_SECONDS) -> None:
        async with asyncio.timeout(timeout):
            while self.client.connected:
                await asyncio.sleep(0.02)


@asynccontextmanager
async def listening(url: str, auth: dict[str, Any]) -> AsyncIterator[Listener]:
    client = socketio.AsyncClient(reconnection=False)
    listener = Listener(client)

    async def record(event: str, *args: Any) -> None:
        data = args[0] if len(args) == 1 else list(args)
        listener.received[event].append(data)
        listener.in_order.append((event, data))
        listener.arrived.set()

    client.on("*", record)
    await client.connect(url, auth=auth, transports=["websocket"], wait_timeout=5)
    try:
        yield listener
    finally:
        if client.connected:
            await client.disconnect()


@asynccontextmanager
async def fynlo_process(
    *command: str, output: Any = asyncio.subprocess.DEVNULL, **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A ``fynlo`` command as its own process with the test settings plus ``env``; stopped
    (terminated, killed after 10 s) when the block ends."""
    environment = {**os.environ, "FYNLO_LOG_LEVEL": "WARNING", **env}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fynlo.cli", *command, env=environment, stdout=output, stderr=output
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def server_process(**env: str) -> AsyncIterator[str]:
    """``fynlo serve`` as its own process (a replica), with the test settings plus ``env``;
    yields its base URL once ``/api/health`` answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {"FYNLO_BACKGROUND_WORK": "true", "FYNLO_OUTBOX_POLL_SECONDS": "0.2", **env}
    log = tempfile.NamedTemporaryFile(prefix="fynlo-replica-", suffix=".log", delete=False)  # noqa: SIM115
    try:
        async with (
            fynlo_process(
                "serve", "--host", "127.0.0.1", "--port", str(port), output=log, **settings
            ) as process,
            httpx.AsyncClient(base_url=url, timeout=2) as http,
        ):
            # Up to a minute: a loaded CI machine can take far longer than usual to import.
            for _ in range(1200):
                if process.returncode is not None:
                    raise RuntimeError(f"replica exited: {Path(log.name).read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/api/health")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"replica did not start: {Path(log.name).read_text()[-2000:]}")
            yield url
    finally:
        log.close()
        Path(log.name).unlink(missing_ok=True)


@asynccontextmanager
async def redis_process(port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """A private Redis on ``port`` (the shared one must stay up for other tests)."""
    process = await asyncio.create_subprocess_exec(
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.025)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
