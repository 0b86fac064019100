"""Routers of this module (filled in by the work in progress)."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
