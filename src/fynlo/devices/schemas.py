"""Hardware device and print job bodies (camelCase on the wire), and the per-type
``configuration`` models a device is validated against before it is stored."""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from fynlo.devices.transport import address_refusal
from fynlo.kit.schemas import RequestSchema, Schema

DeviceType = Literal["printer", "cash_drawer", "scanner", "card_reader", "display"]
ConnectionType = Literal["bluetooth", "wifi", "usb", "ethernet"]
DeviceStatus = Literal["online", "offline", "error"]
PrintJobKind = Literal["receipt", "kitchen_ticket", "test", "drawer_kick"]
PrintJobStatus = Literal["queued", "printing", "printed", "failed", "cancelled"]
CodePage = Literal["cp437", "cp850", "cp858", "cp1252"]

NETWORK_CONNECTIONS = frozenset({"ethernet", "wifi"})
DEFAULT_PRINTER_PORT = 9100
# Every station: a printer listing "*" gets the tickets of stations no printer names.
ALL_STATIONS = "*"

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _host(value: str) -> str:
    """An IPv4/IPv6 address or an RFC 1123 host name; no scheme, port or path. An address
    that can never be a printer is refused here; loopback depends on the deployment and is
    checked when the printer is reached."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        reason = address_refusal(address, allow_loopback=True)
        if reason is not None:
            raise ValueError(f"{reason}; give the printer's address on the restaurant's network")
        return str(address)
    name = value.rstrip(".")
    if name and len(name) <= 253 and all(_HOST_LABEL.match(p) for p in name.split(".")):
        return name.lower()
    raise ValueError("must be a host name or an IP address (no scheme, port or path)")


Host = Annotated[str, StringConstraints(min_length=1, max_length=253), AfterValidator(_host)]
StationCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class PrinterConfig(RequestSchema):
    """A printer's ``configuration``. ``host`` is required when it is on the network
    (ethernet or wifi): the print queue sends raw ESC/POS to ``host:port``."""

    host: Host | None = Field(default=None, description="Host name or IP of a network printer")
    port: int = Field(default=DEFAULT_PRINTER_PORT, ge=1, le=65535, description="Raw TCP port")
    columns: Literal[42, 48] = Field(default=42, description="Characters per line (Font A)")
    stations: Annotated[list[StationCode], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=50,
        description="Kitchen station codes whose tickets it prints; `*` for any station "
        "no other printer lists",
    )
    receipts: bool = Field(default=False, description="Prints customer receipts")
    code_page: CodePage = Field(
        default="cp858", description="Character table selected with ESC t (cp858 has £ and €)"
    )


class DrawerConfig(RequestSchema):
    """A cash drawer's ``configuration``: the printer it hangs off, the kick pin, and the
    drawer's name in cash payments and drawer sessions (``drawer``, ``"main"`` by default),
    so a cash sale opens the drawer it went into and no other."""

    printer_id: uuid.UUID = Field(description="The printer (same restaurant) the drawer plugs into")
    pin: Literal[2, 5] = Field(default=2, description="Drawer kick connector pin")
    drawer: str = Field(
        default="main",
        min_length=1,
        max_length=50,
        description="The `drawer` of cash payments and drawer sessions that opens it",
    )


class DeviceIn(RequestSchema):
    device_type: DeviceType
    device_name: str = Field(min_length=1, max_length=255)
    connection_type: ConnectionType | None = Field(
        default=None, description="A printer without one is taken to be on ethernet"
    )
    device_id: str | None = Field(
        default=None, min_length=1, max_length=255, description="Serial number or MAC address"
    )
    configuration: dict[str, Any] = Field(
        default_factory=dict, description="Validated per device type: see docs/devices.md"
    )


class DeviceUpdate(RequestSchema):
    device_name: str | None = Field(default=None, min_length=1, max_length=255)
    connection_type: ConnectionType | None = None
    device_id: str | None = Field(default=None, min_length=1, max_length=255)
    configuration: dict[str, Any] | None = Field(
        default=None, description="Replaces the whole configuration (validated again)"
    )
    is_active: bool | None = Field(default=None, description="`true` brings a device back")
    version: int | None = Field(
        default=None, ge=1, description="The version you read; a stale one is a 409"
    )


class HeartbeatIn(RequestSchema):
    status: DeviceStatus = Field(default="online", description="What the till sees")
    message: str | None = Field(
        default=None, max_length=500, description="Why, for `error` (e.g. 'paper out')"
    )


class ReceiptPrintIn(RequestSchema):
    device_id: uuid.UUID | None = Field(
        default=None, description="A network printer; default: the receipt printer"
    )


class DeviceOut(Schema):
    id: uuid.UUID
    restaurant_id: uuid.UUID
    device_type: str
    device_name: str
    connection_type: str | None
    device_id: str | None
    status: str
    configuration: dict[str, Any]
    last_seen: datetime | None
    last_error: str | None
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class PrintJobOut(Schema):
    id: uuid.UUID
    device_id: uuid.UUID
    kind: str
    source_id: uuid.UUID | None = Field(
        description="The order (receipt), kitchen ticket or cash drawer the job is for"
    )
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    printed_at: datetime | None
    size: int = Field(description="Bytes of ESC/POS sent to the printer")
    created_by: uuid.UUID | None
    created_at: datetime


class ProbeOut(Schema):
    host: str
    port: int
    reachable: bool
    latency_ms: float | None = Field(description="TCP connect time")
    error: str | None


class DiagnosticsOut(Schema):
    device: DeviceOut
    network: bool = Field(description="Whether the server reaches it over TCP")
    probe: ProbeOut | None = Field(
        description="A TCP connect to the printer (a cash drawer's: its printer's); null for "
        "devices the server does not reach"
    )
    queued_jobs: int
    failed_jobs: int
    last_printed_at: datetime | None
