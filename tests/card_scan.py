"""The payments issue's check: after the whole suite, no card number in the database or logs.

A card number (PAN) here is a run of 13-19 digits that passes the Luhn check, written
plain (``4242424242424242``) or in groups of at least three digits joined by one space
or dash, as cards are printed (``4242 4242 4242 4242``, ``3782-822463-10005``). What is
deliberately *not* a card number, each because no real PAN can look like it:

* digits glued to a letter or underscore (``pay_41111111111111``, hex digests, base62
  ids): a PAN is a token of its own (the ``\\b`` word boundary of PAN detectors). A PAN
  written with any space or punctuation around it is found, even inside JSON, URLs,
  ``key=value`` pairs or free text; only one glued to letters (``card4242...``) is not;
* a UUID (``8-4-4-4-12`` hex digits), whose digit groups could otherwise chain up;
* groups of one or two digits (dates ``2026-11-24``, phone numbers ``+44 20 7946 0958``):
  no card scheme prints a PAN in groups that short;
* a run of more than 19 digits with no separator (a long number is not a card); with
  separators, every run of whole groups of 13-19 digits is checked, so a PAN followed by
  its CVV (``4242 4242 4242 4242 123``) is still found;
* all zeros, which passes the Luhn check, but issuer number 000000 does not exist.

Where the plugin part (hooks below, registered by tests/conftest.py) looks:

* **the database**: the suite empties every table after each test (``_clean_tables``),
  so the tables at the end of the run are empty whatever the tests wrote. The scan
  therefore reads every text, varchar, JSON and binary column of every table *just
  before each cleanup* (``scan_before_cleanup``), and once more at the end of each
  worker's session, before ``pytest_unconfigure`` drops that worker's database, for
  whatever no cleanup saw (``scan_database``, over every table the database has);
* **the logs**: every log record the app writes at INFO or above (the production
  default; the app logs nothing below INFO) goes to ``app-log.jsonl`` in the worker's
  temporary directory, rendered as production renders it (JSON with tracebacks), and the
  uvicorn servers of ``tests.conftest.LiveServer`` log JSON at INFO to ``server-*.log``
  beside it. Both are scanned at the end of the worker's session. That the capture is
  still on is checked after every test and, with a marker line, at the end.

Each worker hands its counts and findings to the xdist controller (``workeroutput``);
the controller prints one summary line, and any finding, or any worker without a scan,
makes pytest exit non-zero.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# ---------------------------------------------------------------------------------------
# Finding card numbers in text
# ---------------------------------------------------------------------------------------

MIN_DIGITS = 13
MAX_DIGITS = 19
MIN_GROUP = 3  # the shortest group a card is printed in (4-3-3-3 for 13 digits)

_DIGITS = re.compile(r"[0-9]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_SEPARATORS = (" ", "-")


def _is_word(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes. Digits only."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _standalone_groups(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each digit run that is not glued to a letter or underscore."""
    size = len(text)
    for match in _DIGITS.finditer(text):
        start, end = match.span()
        if start > 0 and _is_word(text[start - 1]):
            continue
        if end < size and _is_word(text[end]):
            continue
        yield start, end


def _chains(text: str) -> Iterator[list[tuple[int, int]]]:
    """Groups joined by a single space or dash, each of at least MIN_GROUP digits."""
    chain: list[tuple[int, int]] = []
    for start, end in _standalone_groups(text):
        if chain:
            last_start, last_end = chain[-1]
            if (
                text[last_end:start] in _SEPARATORS
                and last_end - last_start >= MIN_GROUP
                and end - start >= MIN_GROUP
            ):
                chain.append((start, end))
                continue
            yield chain
        chain = [(start, end)]
    if chain:
        yield chain


def _is_card(digits: str) -> bool:
    return (
        MIN_DIGITS <= len(digits) <= MAX_DIGITS and digits.strip("0") != "" and luhn_valid(digits)
    )


def card_numbers(text: str) -> list[str]:
    """The card numbers written in ``text``, as written (separators kept), in order."""
    if not text:
        return []
    masked = _UUID.sub(lambda m: "x" * len(m.group()), text)
    found: list[str] = []
    for chain in _chains(masked):
        first = 0
        while first < len(chain):
            hit = None
            # Longest run of whole groups first, so "4242 4242 4242 4242" is one number.
            for last in range(len(chain) - 1, first - 1, -1):
                digits = "".join(masked[s:e] for s, e in chain[first : last + 1])
                if _is_card(digits):
                    hit = last
                    break
            if hit is None:
                first += 1
                continue
            found.append(text[chain[first][0] : chain[hit][1]])
            first = hit + 1
    return found


def mask(number: str) -> str:
    """First six and last four digits, the most of a PAN that may ever be shown."""
    digits = "".join(c for c in number if c.isdigit())
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def _json_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_leaves(item)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, int) and not isinstance(value, bool):
        yield str(value)


def cards_in(value: str) -> list[str]:
    """Card numbers in a stored or logged value; JSON is also read decoded, so a PAN
    behind an escape (``"Card:\\n4242..."`` renders as ``\\n4242...``) is still found."""
    found = {mask(number): number for number in card_numbers(value)}
    stripped = value.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            decoded = json.loads(stripped)
        except ValueError:
            decoded = None
        for leaf in _json_leaves(decoded):
            for number in card_numbers(leaf):
                found.setdefault(mask(number), number)
    return list(found.values())


# ---------------------------------------------------------------------------------------
# Scanning the database and log files
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One card number: where it is and its masked digits (never the whole number)."""

    masked: str
    table: str | None = None
    column: str | None = None
    row_id: str | None = None
    path: str | None = None
    line: int | None = None
    test: str | None = None  # the test whose rows were about to be cleaned up

    def __str__(self) -> str:
        if self.path is not None:
            where = f"log {self.path}:{self.line}"
        else:
            where = f"database {self.table}.{self.column} row {self.row_id}"
        after = f" (left by {self.test})" if self.test else ""
        return f"{self.masked} in {where}{after}"


@dataclass
class Tally:
    rows: int = 0
    table_scans: int = 0
    log_lines: int = 0
    log_files: int = 0


def _base_type(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        return kind.impl_instance
    return kind


def _is_binary(column: sa.Column[Any]) -> bool:
    return isinstance(_base_type(column), sa.LargeBinary)


def _is_textual(column: sa.Column[Any]) -> bool:
    return isinstance(_base_type(column), sa.String | sa.JSON | sa.ARRAY)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        # Every byte as one character: ASCII digits stay digits, nothing is lost.
        return bytes(value).decode("latin-1")
    return str(value)


async def scan_table(
    conn: AsyncConnection, table: sa.Table, *, tally: Tally | None = None, test: str | None = None
) -> list[Finding]:
    """Every text/varchar/JSON/binary value of every row of ``table``, as stored."""
    columns = [c for c in table.columns if _is_textual(c) or _is_binary(c)]
    if not columns:
        return []
    keys = list(table.primary_key.columns)
    selected: list[Any] = [sa.cast(k, sa.Text) for k in keys]
    for column in columns:
        # CAST for text and JSON (the stored text, no TypeDecorator decoding); binary raw.
        selected.append(
            sa.type_coerce(column, sa.LargeBinary)
            if _is_binary(column)
            else sa.cast(column, sa.Text)
        )
    result = await conn.execute(sa.select(*selected))
    findings: list[Finding] = []
    rows = 0
    for number, row in enumerate(result, start=1):
        rows += 1
        row_id = ",".join(str(v) for v in row[: len(keys)]) if keys else f"#{number}"
        for column, value in zip(columns, row[len(keys) :], strict=True):
            text = _as_text(value)
            if not text:
                continue
            for card in cards_in(text):
                findings.append(Finding(mask(card), table.name, column.name, row_id, test=test))
    if tally is not None:
        tally.rows += rows
        tally.table_scans += 1
    return findings


def _existing_tables(sync_conn: sa.Connection) -> list[sa.Table]:
    """The app's tables (typed by the models) and every other table the database has."""
    from fynlo.models import Base

    inspector = sa.inspect(sync_conn)
    present = set(inspector.get_table_names())
    tables = [t for t in Base.metadata.sorted_tables if t.name in present]
    others = sa.MetaData()
    for name in sorted(present - {t.name for t in tables}):
        tables.append(sa.Table(name, others, autoload_with=sync_conn))
    return tables


async def scan_connection(conn: AsyncConnection, *, tally: Tally | None = None) -> list[Finding]:
    tables = await conn.run_sync(_existing_tables)
    findings: list[Finding] = []
    for table in tables:
        findings.extend(await scan_table(conn, table, tally=tally))
    return findings


async def scan_database(engine: AsyncEngine, *, tally: Tally | None = None) -> list[Finding]:
    """Every row of every table in the database behind ``engine``."""
    async with engine.connect() as conn:
        return await scan_connection(conn, tally=tally)


def scan_log_file(path: Path | str, *, tally: Tally | None = None) -> list[Finding]:
    """Every line of a log file; a JSON line is also read decoded (see ``cards_in``)."""
    path = Path(path)
    findings: list[Finding] = []
    lines = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            lines += 1
            for card in cards_in(line):
                findings.append(Finding(mask(card), path=str(path), line=number))
    if tally is not None:
        tally.log_lines += lines
        tally.log_files += 1
    return findings


# ---------------------------------------------------------------------------------------
# Capturing the app's logs into a file
# ---------------------------------------------------------------------------------------

CAPTURE_LEVEL = logging.INFO
LOG_FILE_NAME = "app-log.jsonl"
SERVER_LOG_GLOB = "server-*.log"


class LogCapture:
    """A root-logger handler writing what the app logs, as production renders it (JSON).

    ``fynlo.kit.logging.configure_logging`` (run by every ``create_app``) replaces the
    root logger's handlers and sets its level to ``FYNLO_LOG_LEVEL`` (WARNING in tests).
    It is wrapped so that afterwards the handler is back, the root level lets INFO
    through to it, and the app's own stderr handler keeps the configured threshold (so
    test output is what it was).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        shared: list[Any] = [
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
        ]
        path.write_bytes(b"")
        # Append mode: logging.config.dictConfig (uvicorn.Config runs it, tests/realtime)
        # closes every handler; a closed append-mode FileHandler reopens on the next line.
        self.handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        self.handler.setLevel(CAPTURE_LEVEL)
        self.handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(ensure_ascii=False),
                ],
            )
        )
        self._originals: dict[Any, Callable[..., None]] = {}

    def attached(self) -> bool:
        root = logging.getLogger()
        return self.handler in root.handlers and root.getEffectiveLevel() <= CAPTURE_LEVEL

    def attach(self) -> None:
        root = logging.getLogger()
        if self.handler not in root.handlers:
            root.addHandler(self.handler)
        if root.getEffectiveLevel() > CAPTURE_LEVEL:
            root.setLevel(CAPTURE_LEVEL)

    def _after_configure(self) -> None:
        root = logging.getLogger()
        configured = root.level
        for handler in root.handlers:  # only the app's, configure_logging just set them
            if handler is not self.handler and handler.level == logging.NOTSET:
                handler.setLevel(configured)
        self.attach()

    def install(self) -> None:
        import fynlo.app
        import fynlo.kit.logging
        from fynlo.config import get_settings

        original = fynlo.kit.logging.configure_logging

        @functools.wraps(original)
        def configure_logging(*, json_logs: bool, level: str = "INFO") -> None:
            original(json_logs=json_logs, level=level)
            self._after_configure()

        # fynlo.app imported the function by name: replace it there too.
        for module in (fynlo.kit.logging, fynlo.app):
            namespace = vars(module)
            self._originals[module] = namespace["configure_logging"]
            namespace["configure_logging"] = configure_logging
        # Configure logging now, as create_app will: until then structlog would print to
        # stdout, past the file, whatever a test logs before the first app is built.
        settings = get_settings()
        configure_logging(json_logs=settings.json_logs, level=settings.log_level)

    def uninstall(self) -> None:
        for module, original in self._originals.items():
            vars(module)["configure_logging"] = original
        self._originals.clear()
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()

    def receiving(self, marker: str) -> bool:
        """Log a marker line the way the app's loggers do; did it reach the file?"""
        logging.getLogger("fynlo.card_scan").info("card_scan_canary %s", marker)
        self.handler.flush()
        return marker in self.path.read_text(encoding="utf-8", errors="replace")


# ---------------------------------------------------------------------------------------
# The pytest plugin: per-test database scans, the end-of-session scan, the verdict
# ---------------------------------------------------------------------------------------


@dataclass
class _Worker:
    """One database-owning process: an xdist worker, or a run without xdist."""

    capture: LogCapture | None = None
    tally: Tally = field(default_factory=Tally)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    extra_tables: dict[str, sa.Table] = field(default_factory=dict)


_WORKER = _Worker()
_REPORTS: list[dict[str, Any]] = []  # on the controller (or the only process)
_PLUGIN_KEY = "card_scan"


async def scan_before_cleanup(engine: AsyncEngine, node: pytest.Item) -> None:
    """Called by ``_clean_tables`` just before it empties the tables after ``node``.

    Its own read-only connection: the cleanup's write transaction stays as it was (on
    SQLite a read first would make its DELETE upgrade a read lock).
    """
    from fynlo.models import Base

    async with engine.connect() as conn:
        tables = list(Base.metadata.sorted_tables)
        for name in getattr(node, "extra_tables", ()):  # test-owned tables, see _clean_tables
            if name not in _WORKER.extra_tables:
                _WORKER.extra_tables[name] = await conn.run_sync(_reflect, name)
            tables.append(_WORKER.extra_tables[name])
        for table in tables:
            _WORKER.findings.extend(
                await scan_table(conn, table, tally=_WORKER.tally, test=node.nodeid)
            )


def _reflect(sync_conn: sa.Connection, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=sync_conn)


def _owns_database(config: pytest.Config) -> bool:
    from tests.conftest import _owns_database as owns

    return owns(config)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if not _owns_database(config):
        return
    from tests.conftest import _TMP

    _WORKER.capture = LogCapture(_TMP / LOG_FILE_NAME)
    _WORKER.capture.install()
    # The root logger now passes INFO (for the file); keep pytest's own log capture (the
    # "Captured log" sections, caplog) at the app's level, as before, unless asked.
    if config.getoption("log_level") is None and not config.getini("log_level"):
        from fynlo.config import get_settings

        config.option.log_level = get_settings().log_level.upper()


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    """After each test: is the log capture still on? A gap in it is a gap in the check."""
    capture = _WORKER.capture
    if capture is not None and not capture.attached():
        _WORKER.errors.append(
            f"{nodeid} detached the log capture (root logger handlers or level changed "
            "outside fynlo.kit.logging.configure_logging); what it logged was not scanned"
        )
        capture.attach()


async def _final_database_scan(tally: Tally) -> list[Finding]:
    from fynlo.config import get_settings
    from fynlo.db.engine import create_engine

    engine = create_engine(get_settings())
    try:
        return await scan_database(engine, tally=tally)
    finally:
        await engine.dispose()


def _scan_this_worker() -> dict[str, Any]:
    """Final database scan (before pytest_unconfigure drops it), then the log files."""
    import uuid

    from tests.conftest import _TMP, BACKEND, WORKER

    state = _WORKER
    if BACKEND == "postgresql" or (_TMP / "fynlo.db").exists():
        try:
            state.findings.extend(asyncio.run(_final_database_scan(state.tally)))
        except Exception as exc:  # a scan that cannot run is a failed check, loudly
            state.errors.append(f"{WORKER}: database scan failed: {exc!r}")
    if state.capture is not None:
        if not state.capture.receiving(uuid.uuid4().hex):
            state.errors.append(
                f"{WORKER}: the app's INFO log lines no longer reach {state.capture.path}"
            )
        state.capture.uninstall()
    for path in sorted([_TMP / LOG_FILE_NAME, *_TMP.glob(SERVER_LOG_GLOB)]):
        if path.exists():
            state.findings.extend(scan_log_file(path, tally=state.tally))
    return {
        "worker": WORKER,
        "rows": state.tally.rows,
        "table_scans": state.tally.table_scans,
        "log_lines": state.tally.log_lines,
        "log_files": state.tally.log_files,
        "findings": [str(f) for f in state.findings],
        "errors": state.errors,
    }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: a worker finished; keep its report (or note it has none)."""
    report = getattr(node, "workeroutput", {}).get(_PLUGIN_KEY)
    if report is None:
        name = getattr(getattr(node, "gateway", None), "id", "a worker")
        report = {"worker": name, "errors": [f"{name}: no card-number scan ({error or 'ended'})"]}
    _REPORTS.append(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if config.option.collectonly:
        return
    if _owns_database(config):
        report = _scan_this_worker()
        if _is_worker(config):
            config.workeroutput[_PLUGIN_KEY] = report  # type: ignore[attr-defined]
            return
        _REPORTS.append(report)
    failed = any(r.get("findings") or r.get("errors") for r in _REPORTS)
    if failed and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def summary(reports: list[dict[str, Any]]) -> str:
    def total(key: str) -> int:
        return sum(int(r.get(key, 0)) for r in reports)

    found = sum(len(r.get("findings", [])) for r in reports)
    return (
        f"card-number scan: {found} found in {total('rows')} rows "
        f"({total('table_scans')} table scans) / {total('log_lines')} log lines "
        f"({total('log_files')} log files, {len(reports)} worker(s))"
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config) or not _REPORTS:
        return
    findings = [f for r in _REPORTS for f in r.get("findings", [])]
    errors = [e for r in _REPORTS for e in r.get("errors", [])]
    line = summary(_REPORTS)
    if not findings and not errors:
        terminalreporter.write_line(line, green=True)
        return
    terminalreporter.section("card-number scan FAILED", sep="=", red=True, bold=True)
    for finding in findings:
        terminalreporter.write_line(f"card number: {finding}", red=True)
    for error in errors:
        terminalreporter.write_line(f"scan error: {error}", red=True)
    terminalreporter.write_line(line, red=True, bold=True)
