"""Request and response models, named by role. Plain Python types only (no numpy or pandas)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["scorer", "viewer", "admin"]


class KeyCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"role": "scorer", "name": "Salesforce production"}]})
    role: Role
    name: str = Field(min_length=1, max_length=200, description="Who holds the key")


class KeyInfo(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str = Field(description="The key's first characters, to recognise it")
    created_at: datetime | None = None
    revoked_at: datetime | None = None


class KeyCreated(KeyInfo):
    key: str = Field(description="The key itself: shown this once, store it now")
