"""Typed dependencies that keep route signatures short: the caller's key, checked for a role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy import Engine

from forecast.keys import ApiKey
from forecast.settings import Settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(get_engine)]
DatasetQuery = Annotated[str | None, Query(
    min_length=1, max_length=100,
    description="Dataset (default: FORECAST_DEAL_DATASET, else the only opportunities dataset "
                "in the store)")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def presented_key(request: Request) -> str | None:
    """The key from `X-API-Key` or `Authorization: Bearer`; never from the URL."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def require(*roles: str) -> Callable[[Request], ApiKey]:
    """A dependency admitting keys of the given roles (admin is admitted everywhere)."""

    def check(request: Request) -> ApiKey:
        key = presented_key(request)
        if key is None:
            raise HTTPException(401, "missing API key: send X-API-Key or Authorization: Bearer",
                                headers={"WWW-Authenticate": "Bearer"})
        found = request.app.state.keys.verify(key)
        if found is None:
            raise HTTPException(401, "unknown or revoked API key",
                                headers={"WWW-Authenticate": "Bearer"})
        if not found.allows(*roles):
            raise HTTPException(403, f"this key's role '{found.role}' may not do this; "
                                     f"needs {' or '.join(roles)}")
        return found

    return check


ScorerKey = Annotated[ApiKey, Depends(require("scorer"))]
ViewerKey = Annotated[ApiKey, Depends(require("viewer"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
