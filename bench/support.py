"""Shared machinery for the benchmarks in ``bench/``.

A benchmark here measures the real thing: a throwaway PostgreSQL database migrated with the
project's own migrations, a real ``fynlo serve`` process on a loopback port, and real HTTP
clients. This module holds the parts every benchmark needs:

- :func:`throwaway_database`: create ``fynlo_bench_<random>``, yield it, drop it after
  (also when the benchmark fails or is interrupted);
- :func:`fynlo_env` / :func:`apply_fynlo_env`: the exact ``FYNLO_*`` environment of a run,
  independent of whatever the developer's shell exports;
- :func:`migrate`: bring the database to ``head``;
- :func:`running_server`: ``fynlo serve`` on a free port, healthy before it is handed out,
  stopped after;
- :func:`percentile` / :func:`summarize`: latency figures;
- :class:`Figure` / :func:`print_figures`: the result table, with the target next to each
  figure and PASS/FAIL.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import re
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import URL, make_url

DEFAULT_DATABASE_URL_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"
ADMIN_DATABASE = "postgres"
ENV_PREFIX = "FYNLO_"


class BenchmarkSetupError(RuntimeError):
    """The benchmark could not be set up (PostgreSQL unreachable, server did not start...)."""


def run_main(run: Coroutine[object, object, int]) -> int:
    """A benchmark's exit status: its own, 2 when it could not be set up, 130 on Ctrl-C."""
    try:
        return asyncio.run(run)
    except BenchmarkSetupError as exc:
        print(f"\nBenchmark setup failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- environment


def fynlo_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The current environment with every ``FYNLO_*`` variable replaced by ``overrides``.

    A developer's shell (or a ``.env`` the settings would not override) must not change what
    a benchmark measures, so inherited ``FYNLO_*`` variables are dropped, not merged.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for key, value in overrides.items():
        if not key.startswith(ENV_PREFIX):
            raise ValueError(f"{key} is not a FYNLO_ setting")
        env[key] = value
    return env


def apply_fynlo_env(overrides: Mapping[str, str]) -> None:
    """Make this process's ``FYNLO_*`` environment exactly ``overrides``.

    Call it before anything reads the settings (``get_settings`` is cached): the benchmark
    process then hashes passwords with the same parameters as the server it starts.
    """
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        del os.environ[key]
    os.environ.update(fynlo_env(overrides))
    from fynlo.config import get_settings

    get_settings.cache_clear()


# --------------------------------------------------------------------------- PostgreSQL


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(base: str, database: str) -> URL:
    """``base`` (``postgresql+asyncpg://user@host:port``, any database part ignored) + name."""
    url = make_url(base)
    if url.get_backend_name() != "postgresql":
        raise BenchmarkSetupError(f"the benchmarks need PostgreSQL, not {url.get_backend_name()}")
    return url.set(drivername="postgresql+asyncpg", database=database)


async def _admin_execute(base: str, *statements: str) -> None:
    dsn = _asyncpg_dsn(database_url(base, ADMIN_DATABASE))
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        shown = database_url(base, ADMIN_DATABASE).render_as_string(hide_password=True)
        raise BenchmarkSetupError(f"PostgreSQL is not reachable at {shown}: {exc}") from exc
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@dataclass(frozen=True)
class ThrowawayDatabase:
    name: str
    url: str  # SQLAlchemy URL (postgresql+asyncpg://...), password included
    admin_url: URL

    def drop_command(self) -> str:
        admin = self.admin_url
        return (
            f"psql -h {admin.host or '127.0.0.1'} -p {admin.port or 5432} "
            f"-U {admin.username or 'postgres'} -d {admin.database} "
            f"-c 'DROP DATABASE \"{self.name}\" WITH (FORCE)'"
        )


@asynccontextmanager
async def throwaway_database(
    base: str = DEFAULT_DATABASE_URL_BASE, *, prefix: str = "fynlo_bench", keep: bool = False
) -> AsyncIterator[ThrowawayDatabase]:
    """Create an empty database ``<prefix>_<random>``, yield it, drop it.

    The drop runs however the block ends (unless ``keep``, to inspect it afterwards; print
    ``drop_command()`` for the user) and uses ``WITH (FORCE)``, so a connection left open by
    a crashed server does not keep it alive.
    """
    name = f"{prefix}_{secrets.token_hex(4)}"
    await _admin_execute(base, f'CREATE DATABASE "{name}"')
    database = ThrowawayDatabase(
        name=name,
        url=database_url(base, name).render_as_string(hide_password=False),
        admin_url=database_url(base, ADMIN_DATABASE),
    )
    try:
        yield database
    finally:
        if not keep:
            await _admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def postgres_version(url: str) -> str:
    conn = await asyncpg.connect(_asyncpg_dsn(make_url(url)), timeout=10)
    try:
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return str(version)


async def migrate(url: str) -> set[str]:
    """Upgrade the database at ``url`` to ``head`` with the project's migrations."""
    from fynlo.config import get_settings
    from fynlo.db.engine import create_engine
    from fynlo.db.migrate import current_revisions, upgrade

    engine = create_engine(get_settings(), database_url=url)
    try:
        await upgrade(engine)
        return await current_revisions(engine)
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    workers: int
    log_path: Path


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


async def _wait_healthy(
    proc: asyncio.subprocess.Process, url: str, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise BenchmarkSetupError(
                    f"the server exited with status {proc.returncode} before it was healthy; "
                    f"its log ({log_path}):\n{_tail(log_path)}"
                )
            try:
                response = await client.get("/api/health")
                if response.status_code == 200 and response.json().get("success") is True:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise BenchmarkSetupError(
        f"the server was not healthy within {timeout:.0f} s; its log ({log_path}):\n"
        f"{_tail(log_path)}"
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout=15)
    except TimeoutError:
        proc.kill()
        await proc.wait()


@asynccontextmanager
async def running_server(
    env: Mapping[str, str], *, workers: int = 1, startup_timeout: float = 60
) -> AsyncIterator[Server]:
    """Run ``fynlo serve`` (uvicorn; schema checked first) on a free loopback port.

    ``env`` is the whole environment of the server (build it with :func:`fynlo_env`). The
    server is yielded once ``GET /api/health`` answers; it is stopped when the block ends.
    It runs in a directory of its own (so no ``.env`` of the caller's directory is read) and
    its output goes to a log file there, removed afterwards unless the block failed.
    """
    command = [sys.executable, "-m", "fynlo.cli", "serve", "--host", "127.0.0.1"]
    async with running_http_server(
        lambda port: [*command, "--port", str(port), "--workers", str(workers)],
        env,
        workers=workers,
        startup_timeout=startup_timeout,
    ) as server:
        yield server


@asynccontextmanager
async def running_http_server(
    command: Callable[[int], Sequence[str]],
    env: Mapping[str, str],
    *,
    workers: int = 1,
    startup_timeout: float = 60,
    name: str = "server",
) -> AsyncIterator[Server]:
    """Run ``command(port)`` (any HTTP server with ``GET /api/health`` answering
    ``{"success": true}``) on a free loopback port, as :func:`running_server` runs Fynlo:
    its own directory and log file, yielded once healthy, stopped when the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix=f"fynlo-bench-{name}-{port}-"))
    log_path = workdir / "server.log"
    argv = list(command(port))
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            argv[0],
            *argv[1:],
            env=dict(env),
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    failed = True
    try:
        await _wait_healthy(proc, url, log_path, startup_timeout)
        yield Server(url=url, pid=proc.pid, workers=workers, log_path=log_path)
        failed = False
    finally:
        await _stop(proc)
        if failed:
            print(f"({name} log kept at {log_path})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


METRICS_TIMEOUT_SECONDS = 300.0


async def server_histogram(
    client: httpx.AsyncClient, metric: str, labels: Mapping[str, str]
) -> tuple[float, float]:
    """``(sum, count)`` of one Prometheus histogram series from the server's ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    # Generous: after an open-loop phase the server may still be working off its queue.
    response = await client.get("/metrics", timeout=METRICS_TIMEOUT_SECONDS)
    response.raise_for_status()
    total, count = 0.0, 0.0
    for family in text_string_to_metric_families(response.text):
        if family.name != metric:
            continue
        for sample in family.samples:
            if any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            if sample.name == f"{metric}_sum":
                total = sample.value
            elif sample.name == f"{metric}_count":
                count = sample.value
    return total, count


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is outside 0-100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LatencySummary:
    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


def summarize(seconds: Sequence[float]) -> LatencySummary:
    return LatencySummary(
        count=len(seconds),
        mean=sum(seconds) / len(seconds),
        p50=percentile(seconds, 50),
        p95=percentile(seconds, 95),
        p99=percentile(seconds, 99),
        max=max(seconds),
    )


@dataclass(frozen=True)
class Figure:
    """One line of a result table: a measured value and, if it has one, its target."""

    name: str
    value: str
    target: str = ""
    passed: bool | None = None  # None: no target

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "FAIL"


def print_figures(title: str, figures: Sequence[Figure]) -> None:
    rows = [("Figure", "Value", "Target", "")] + [
        (f.name, f.value, f.target, f.verdict) for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    rule = "  ".join("-" * w for w in widths).rstrip()
    print(f"\n{title}\n{rule}")
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print(rule)
    print(rule)


def targets_verdict(figures: Sequence[Figure], *, strict: bool, targets: str) -> int:
    """Print which targets were missed (or that all were met); the exit status: a miss
    fails the run only with ``--strict``."""
    missed = [f.name for f in figures if f.passed is False]
    if missed:
        print(f"\nTarget missed: {', '.join(missed)} ({targets}).")
        return 1 if strict else 0
    print(f"\nAll targets met ({targets}).")
    return 0


def print_section(title: str, items: Sequence[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in items)
    print(f"\n{title}")
    for key, value in items:
        print(f"  {key.ljust(width)}  {value}")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return re.sub(r"\s+", " ", line.partition(":")[2]).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_info(pg_version: str) -> list[tuple[str, str]]:
    return [
        ("CPU", f"{cpu_model()}; {usable_cpus()} usable of {os.cpu_count()} logical CPUs"),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("PostgreSQL", pg_version),
    ]


# --------------------------------------------------------------------------- CPU time

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_cpu_seconds(stat: str, *, reaped_children: bool = False) -> float:
    # /proc/<pid>/stat: "pid (comm) state ..." ; utime and stime are fields 14 and 15,
    # cutime and cstime (children that exited and were waited for) 16 and 17
    fields = stat[stat.rindex(")") + 2 :].split()
    own = int(fields[11]) + int(fields[12])
    children = int(fields[13]) + int(fields[14]) if reaped_children else 0
    return (own + children) / _CLOCK_TICKS


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (its threads included); None when
    /proc cannot tell (not Linux, or the process is gone)."""
    try:
        return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def postgres_cpu_seconds() -> float | None:
    """CPU seconds of every process named ``postgres`` on this machine (its backends and
    background workers, whoever's databases they serve); None when PostgreSQL is not local or
    /proc cannot tell. A backend that exits (a pool's overflow connection closed) is counted
    in the postmaster's reaped-children time, so the sum does not drop when it goes."""
    total, seen = 0.0, False
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")] != "postgres":
            continue
        try:
            total += _stat_cpu_seconds(stat, reaped_children=True)
        except (ValueError, IndexError):
            continue
        seen = True
    return total if seen else None
