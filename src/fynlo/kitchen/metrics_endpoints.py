"""``GET /api/kitchen/metrics``: preparation metrics per station and product, as JSON for
the back office or as a small self-contained HTML page (tables and inline SVG charts).

Permission: ``reports.read`` *or* ``kitchen.read``. The figures are aggregates per station
and product (no person, no money) of timings the kitchen display already shows to everyone
with ``kitchen.read``, so kitchen staff can watch their own station; ``reports.read`` lets
back-office users who do not work the display (a reporting-only account) see them too.
"""

from __future__ import annotations

import base64
import hashlib
import html
import uuid
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import Field

from fynlo.auth.subject import Subject, require_any_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, Schema, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.kitchen.metrics import (
    MAX_PERIOD_DAYS,
    Figures,
    ProductFigures,
    Report,
    StationFigures,
    preparation_metrics,
)

metrics_router = router(prefix="/api/kitchen", tags=["kitchen"])

READ_PERMISSIONS = ("reports.read", "kitchen.read")


Reader = Annotated[Subject, Depends(require_any_permission(*READ_PERMISSIONS))]


# --- response ----------------------------------------------------------------------------


class HourOut(Schema):
    hour: int = Field(description="Local hour of day, 0-23")
    label: str = Field(examples=["18:00"])
    items: int
    average_seconds: float | None


class FiguresOut(Schema):
    items: int = Field(description="Order lines made ready (a line of 3 is one item)")
    portions: int = Field(description="The quantities of those lines added up")
    average_seconds: float | None = Field(description="Mean prep time, 0.1 s; null if none")
    average_minutes: float | None
    p90_seconds: int | None = Field(description="90th percentile, nearest rank")
    late_items: int
    late_share: float | None = Field(description="lateItems / items, 0-1")
    active_hours: int = Field(description="Clock hours with at least one item made ready")
    items_per_hour: float | None = Field(description="items / activeHours")
    items_per_period_hour: float = Field(description="items / hours of the period")
    by_hour: list[HourOut] = Field(description="24 hours in business-day order")


class StationOut(FiguresOut):
    station: str


class ProductOut(FiguresOut):
    product_id: uuid.UUID
    name: str
    station: str
    target_minutes: int | None = Field(description="The product's preparation time, if set")


class PeriodOut(Schema):
    from_day: date = Field(alias="from")
    to_day: date = Field(alias="to")
    time_zone: str
    business_day_starts_at: str = Field(examples=["04:00"])
    start: str = Field(description="UTC instant the first business day starts")
    end: str = Field(description="UTC instant the last business day ends")
    days: int
    hours: float = Field(description="Real hours: a DST day has 23 or 25")
    station: str | None


class MetricsOut(Schema):
    period: PeriodOut
    overall: FiguresOut
    stations: list[StationOut]
    products: list[ProductOut]


def _round(value: float | None, digits: int) -> float | None:
    """Half up, as people round (Python's round() would make 0.125 into 0.12)."""
    if value is None:
        return None
    exact = Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return float(exact)


def _figures(f: Figures) -> dict[str, Any]:
    return {
        "items": f.items,
        "portions": f.portions,
        "average_seconds": _round(f.average_seconds, 1),
        "average_minutes": _round(None if f.average_seconds is None else f.average_seconds / 60, 2),
        "p90_seconds": f.p90_seconds,
        "late_items": f.late_items,
        "late_share": _round(f.late_share, 4),
        "active_hours": f.active_hours,
        "items_per_hour": _round(f.items_per_hour, 2),
        "items_per_period_hour": _round(f.items_per_period_hour, 2),
        "by_hour": [
            HourOut(
                hour=h.hour,
                label=f"{h.hour:02d}:00",
                items=h.items,
                average_seconds=_round(h.average_seconds, 1),
            )
            for h in f.by_hour
        ],
    }


def _station(s: StationFigures) -> StationOut:
    return StationOut(station=s.station, **_figures(s.figures))


def _product(p: ProductFigures) -> ProductOut:
    return ProductOut(
        product_id=p.product_id,
        name=p.name,
        station=p.station,
        target_minutes=p.target_minutes,
        **_figures(p.figures),
    )


def metrics_out(report: Report) -> MetricsOut:
    period = report.period
    return MetricsOut(
        period=PeriodOut(
            from_day=period.first_day,
            to_day=period.last_day,
            time_zone=period.time_zone,
            business_day_starts_at=period.day_starts_at.strftime("%H:%M"),
            start=period.start.isoformat().replace("+00:00", "Z"),
            end=period.end.isoformat().replace("+00:00", "Z"),
            days=period.days,
            hours=period.hours,
            station=report.station,
        ),
        overall=FiguresOut(**_figures(report.overall)),
        stations=[_station(s) for s in report.stations],
        products=[_product(p) for p in report.products],
    )


# --- HTML --------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}"
    "h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}.muted{color:#666}"
    "table{border-collapse:collapse;margin:.5rem 0}"
    "th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}"
    "th:first-child,td:first-child,.text{text-align:left}"
    "svg{max-width:100%;height:auto;font-size:11px}"
)
# The app's strict CSP would block the inline style; this page allows exactly that style.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_CSP = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; frame-ancestors 'none'"
_NONE = "\u2013"  # an en dash where there is no figure
_BAR = "#2a7"
_MARK = "#a33"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return _NONE
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _number(value: float | None) -> str:
    return _NONE if value is None else f"{value:g}"


def _share(value: float | None) -> str:
    return _NONE if value is None else f"{value * 100:.1f} %"


def _hour_chart(hours: list[HourOut]) -> str:
    """Columns of items made ready per hour of day, in business-day order."""
    width, height, left, bottom, top = 24, 160, 30, 20, 16
    peak = max((h.items for h in hours), default=0) or 1
    parts = []
    for n, h in enumerate(hours):
        x = left + n * width
        bar = h.items / peak * (height - top)
        y = top + (height - top) - bar
        tip = f"{h.label}: {h.items} items, average {_duration(h.average_seconds)}"
        parts.append(
            f'<rect x="{x + 3}" y="{y:.1f}" width="{width - 6}" height="{bar:.1f}" '
            f'fill="{_BAR}"><title>{html.escape(tip)}</title></rect>'
            f'<text x="{x + width / 2}" y="{height + 14}" '
            f'text-anchor="middle">{h.hour:02d}</text>'
        )
        if h.items:
            parts.append(
                f'<text x="{x + width / 2}" y="{y - 3:.1f}" text-anchor="middle">{h.items}</text>'
            )
    total_width = left + len(hours) * width + 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="Items made ready per hour of day" viewBox="0 0 {total_width} '
        f'{height + bottom}" width="{total_width}" height="{height + bottom}">'
        f'<line x1="{left}" y1="{height}" x2="{total_width - 10}" y2="{height}" '
        f'stroke="#999"/>{"".join(parts)}</svg>'
    )


def _station_chart(stations: list[StationOut]) -> str:
    """Bars of average preparation time per station, a tick at the 90th percentile and both
    figures at the end of the row."""
    row, label, scale_width, right = 26, 120, 360, 110
    # A few very slow items can pull the mean above the 90th percentile: scale to both.
    longest = (
        max((max(s.p90_seconds or 0, s.average_seconds or 0) for s in stations), default=0) or 1
    )
    parts = []
    for n, s in enumerate(stations):
        y = n * row + 4
        bar = (s.average_seconds or 0) / longest * scale_width
        name = s.station if len(s.station) <= 16 else s.station[:15] + "\u2026"
        figures = f"{_duration(s.average_seconds)} / {_duration(s.p90_seconds)}"
        tip = f"{s.station}: average / 90th percentile {figures}, {s.items} items"
        parts.append(
            f'<text x="0" y="{y + 14}">{html.escape(name)}<title>{html.escape(s.station)}'
            f"</title></text>"
            f'<rect x="{label}" y="{y}" width="{bar:.1f}" height="{row - 8}" fill="{_BAR}">'
            f"<title>{html.escape(tip)}</title></rect>"
            f'<text x="{label + scale_width + 12}" y="{y + 14}">{figures}</text>'
        )
        if s.p90_seconds is not None:
            tick = label + s.p90_seconds / longest * scale_width
            parts.append(
                f'<line x1="{tick:.1f}" y1="{y - 2}" x2="{tick:.1f}" y2="{y + row - 6}" '
                f'stroke="{_MARK}" stroke-width="2"><title>{html.escape(tip)}</title></line>'
            )
    total_width = label + scale_width + right
    total_height = max(1, len(stations)) * row + 8
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="Average preparation time per station" viewBox="0 0 {total_width} '
        f'{total_height}" width="{total_width}" height="{total_height}">{"".join(parts)}</svg>'
    )


def _cells(f: FiguresOut) -> str:
    values = (
        str(f.items),
        str(f.portions),
        _duration(f.average_seconds),
        _duration(f.p90_seconds),
        str(f.late_items),
        _share(f.late_share),
        _number(f.items_per_hour),
        _number(f.items_per_period_hour),
    )
    return "".join(f"<td>{html.escape(v)}</td>" for v in values)


_FIGURE_HEADERS = (
    "<th>Items</th><th>Portions</th><th>Average</th><th>90th pct</th><th>Late</th>"
    "<th>Late share</th><th>Items / active hour</th><th>Items / period hour</th>"
)


def render_html(data: MetricsOut, restaurant_name: str) -> str:
    p = data.period
    title = f"Kitchen preparation metrics {p.from_day} to {p.to_day}"
    scope = f"station {p.station}" if p.station else "all stations"
    stations = "".join(
        f'<tr><td class="text">{html.escape(s.station)}</td>{_cells(s)}</tr>' for s in data.stations
    )
    products = "".join(
        f'<tr><td class="text">{html.escape(pr.name)}</td>'
        f'<td class="text">{html.escape(pr.station)}</td>'
        f"<td>{_NONE if pr.target_minutes is None else f'{pr.target_minutes} min'}</td>"
        f"{_cells(pr)}</tr>"
        for pr in data.products
    )
    body = (
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="muted">{html.escape(restaurant_name)} · {html.escape(scope)} · business '
        f"days from {html.escape(p.business_day_starts_at)} ({html.escape(p.time_zone)}) · "
        "times are minutes:seconds from fired to ready</p>"
        "<h2>Items made ready per hour of day</h2>"
        f"{_hour_chart(data.overall.by_hour)}"
        "<h2>Average preparation time per station</h2>"
        '<p class="muted">Bar: average; red tick: 90th percentile (minutes:seconds).</p>'
        f"{_station_chart(data.stations)}"
        "<h2>Stations</h2>"
        f'<table><thead><tr><th class="text">Station</th>{_FIGURE_HEADERS}</tr></thead>'
        f"<tbody>{stations}</tbody><tfoot><tr><th>All</th>{_cells(data.overall)}</tr>"
        "</tfoot></table>"
        "<h2>Products</h2>"
        '<table><thead><tr><th class="text">Product</th><th class="text">Station</th>'
        f"<th>Target</th>{_FIGURE_HEADERS}</tr></thead><tbody>{products}</tbody></table>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


# --- route -------------------------------------------------------------------------------


@metrics_router.get(
    "/metrics",
    response_model=Envelope[MetricsOut],
    summary="Preparation metrics per station and product over business days",
    description="Average and 90th-percentile (nearest-rank) preparation time, late items, "
    "items per active hour and per period hour, and an hour-of-day breakdown, for the "
    "business days `from`..`to` (inclusive, at most "
    f"{MAX_PERIOD_DAYS}) in the restaurant's time zone. `format=html` gives a page with "
    "tables and charts. Needs `reports.read` or `kitchen.read`.",
    responses={200: {"content": {"text/html": {}}}},
)
async def kitchen_metrics(
    subject: Reader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    from_day: Annotated[date, Query(alias="from", description="First business day, YYYY-MM-DD")],
    to_day: Annotated[
        date, Query(alias="to", description="Last business day (inclusive), YYYY-MM-DD")
    ],
    station: Annotated[
        str | None, Query(max_length=50, description="Only this station; empty means all")
    ] = None,
    format: Literal["json", "html"] = "json",
) -> Envelope[MetricsOut] | HTMLResponse:
    station = (station or "").strip() or None
    report = await preparation_metrics(session, restaurant, from_day, to_day, station)
    data = metrics_out(report)
    if format == "html":
        return HTMLResponse(
            render_html(data, restaurant.name),
            headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP},
        )
    return ok(data)


ROUTERS: list[APIRouter] = [metrics_router]
