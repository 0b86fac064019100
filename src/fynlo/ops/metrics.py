"""Prometheus metrics: requests by route template and status, latency, database pool."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _PoolCollector(Collector):
    def __init__(self, engine_ref: list[AsyncEngine]) -> None:
        self._engine_ref = engine_ref

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not self._engine_ref:
            return
        pool = self._engine_ref[0].sync_engine.pool
        if not isinstance(pool, QueuePool):
            return
        for name, doc, value in (
            ("fynlo_db_pool_size", "Configured pool size", pool.size()),
            ("fynlo_db_pool_checked_out", "Connections in use", pool.checkedout()),
            ("fynlo_db_pool_checked_in", "Idle connections in the pool", pool.checkedin()),
            ("fynlo_db_pool_overflow", "Connections beyond pool size", pool.overflow()),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


class _RealtimeCollector(Collector):
    """This replica's Socket.IO clients, and how broadcasts reached them
    (:mod:`fynlo.realtime.fanout`)."""

    def __init__(
        self, deliveries: collections.Counter[str], connections: Callable[[], int]
    ) -> None:
        self._deliveries = deliveries
        self._connections = connections

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "fynlo_socketio_connections",
            "Socket.IO clients connected to this replica",
            value=self._connections(),
        )
        delivered = CounterMetricFamily(
            "fynlo_socketio_deliveries",
            "Recipients of Socket.IO emits (those without an acknowledgement callback) by "
            "how they were reached: written directly to an idle connection, queued for the "
            "client's writer, or sent by python-socketio (sockets gone, closing or silent)",
            labels=["path"],
        )
        for path, count in sorted(self._deliveries.items()):
            delivered.add_metric([path], count)
        yield delivered


class Metrics:
    """One registry per app, so several apps in one process (tests) don't collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fynlo_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fynlo_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._engine_ref: list[AsyncEngine] = []
        self.registry.register(_PoolCollector(self._engine_ref))

    def watch_engine(self, engine: AsyncEngine) -> None:
        self._engine_ref[:] = [engine]

    def watch_realtime(
        self, deliveries: collections.Counter[str], connections: Callable[[], int]
    ) -> None:
        self.registry.register(_RealtimeCollector(deliveries, connections))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
