"""Request and response models, named by role. Plain Python types only (no numpy or pandas)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A timestamp sent out as RFC 3339 with its zone (the store keeps naive UTC).
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]

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
    created_at: UtcDateTime | None = None
    revoked_at: UtcDateTime | None = None


class KeyCreated(KeyInfo):
    key: str = Field(description="The key itself: shown this once, store it now")


# --- scoring ------------------------------------------------------------------------------------

FieldValue = str | float | int | bool | None


class ReasonOut(BaseModel):
    field: str = Field(description="The user's own field name")
    value: FieldValue = None
    contribution: float = Field(description="Effect on the log-odds: > 0 raises the score")
    sentence: str


class ScoreResponse(BaseModel):
    id: str | None = None
    probability: float = Field(ge=0, le=1)
    score: int = Field(ge=0, le=100, description="The probability as 0–100")
    grade: Literal["A", "B", "C", "D"]
    reasons_for: list[ReasonOut]
    reasons_against: list[ReasonOut]
    model: str
    version: str | None = Field(description="Registry version; null for a fallback")
    method: Literal["model", "stage_win_rate", "base_rate"]
    label: str = Field(description="What scored this, in words (says so when it is a fallback)")


LEAD_EXAMPLE = {
    "id": "lead-123",
    "fields": {"Lead Origin": "Landing Page Submission", "Lead Source": "Reference",
               "TotalVisits": 4, "Total Time Spent on Website": 910, "Page Views Per Visit": 2.5,
               "What is your current occupation": "Working Professional", "Country": "India"},
}


class LeadScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [LEAD_EXAMPLE]})
    id: str | None = Field(None, max_length=200, description="Your id, echoed back")
    fields: dict[str, FieldValue] = Field(
        description="The lead's fields by the names used in training; unknown fields are "
        "ignored, missing ones are scored as blank", max_length=500)


class LeadBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"leads": [LEAD_EXAMPLE]}]})
    leads: list[LeadScoreRequest] = Field(min_length=1)


DEAL_EXAMPLE = {
    "id": "deal-42", "stage": "Engaging", "created_at": "2017-10-02", "amount": 5000.0,
    "product": "GTX Pro", "owner": "Darcel Schlecht", "account": "Isdom", "sector": "medical",
}


class DealScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [DEAL_EXAMPLE]})
    id: str | None = Field(None, max_length=200, description="Your id, echoed back")
    stage: str = Field(min_length=1, max_length=100, description="A stage of the dataset")
    created_at: datetime | None = None
    stage_entered_at: datetime | None = Field(None, description="Default: created_at")
    amount: float | None = Field(None, ge=0)
    list_price: float | None = Field(None, ge=0)
    product: str | None = Field(None, max_length=200)
    product_series: str | None = Field(None, max_length=100)
    owner: str | None = Field(None, max_length=200, description="The rep")
    team: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=100)
    account: str | None = Field(None, max_length=200)
    sector: str | None = Field(None, max_length=100)
    account_country: str | None = Field(None, max_length=100)
    account_employees: float | None = Field(None, ge=0)
    account_revenue: float | None = Field(None, ge=0)


class DealBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"deals": [DEAL_EXAMPLE]}]})
    deals: list[DealScoreRequest] = Field(min_length=1)


class BatchScoreResponse(BaseModel):
    scores: list[ScoreResponse]


class ServedModelOut(BaseModel):
    kind: Literal["leads", "deals"]
    name: str
    version: str | None
    source: Literal["registry", "local copy", "fallback"]
    method: Literal["model", "stage_win_rate", "base_rate"]
    label: str
    trained_at: UtcDateTime | None = None
    holdout: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Holdout metrics of the model and each baseline")


class ModelsResponse(BaseModel):
    loaded_at: UtcDateTime
    models: list[ServedModelOut]
    problems: list[str]
