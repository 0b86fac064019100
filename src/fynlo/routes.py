"""Routers of the domain packages, mounted by :func:`fynlo.app.create_app`."""

from __future__ import annotations

from fastapi import APIRouter

DOMAIN_ROUTERS: list[APIRouter] = []
