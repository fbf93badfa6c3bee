"""Request and response models of the targets routes (`PUT /v1/targets`, `GET /v1/targets`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.edge_values import CleanName
from serving.schemas import Amount, Name, UtcDateTime

TargetLevel = Literal["all", "team", "rep", "product", "region"]
TARGET_EXAMPLE = {"level": "team", "name": "Team Costa", "period": "2017-Q3", "amount": 250000}


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TARGET_EXAMPLE]})
    level: TargetLevel = Field(description="all: the whole dataset (name 'total')")
    name: CleanName = Field(
        "total",
        max_length=200,
        description="The team, rep, product or region as the deals name it (read as they are: "
        "composed Unicode, no-break spaces as spaces, no zero-width characters, trimmed)",
    )
    period: Name = Field(
        min_length=1,
        max_length=20,
        examples=["2017-Q3", "2017-07", "2017"],
        description="A year (2017), quarter (2017-Q3) or month (2017-07)",
    )
    amount: Amount = Field(description="Revenue to win in the period")
    currency: Name | None = Field(
        None, pattern=r"^[A-Za-z]{3}$", description="Default: the currency of the dataset's deals"
    )


class TargetBatchRequest(BaseModel):
    """Targets to set: `{"targets": [...]}`, or one target object on its own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "targets": [
                        TARGET_EXAMPLE,
                        {"level": "all", "period": "2017-Q3", "amount": 1200000},
                    ]
                }
            ]
        },
    )
    targets: list[TargetIn] = Field(min_length=1, description="At most `max_batch_size`")

    @model_validator(mode="before")
    @classmethod
    def _one_on_its_own(cls, data: object) -> object:
        if isinstance(data, dict) and "targets" not in data and "level" in data:
            return {"targets": [data]}
        return data


class TargetOut(BaseModel):
    level: TargetLevel
    name: str
    period: str
    amount: float
    currency: str
    updated_at: UtcDateTime | None = None


class TargetsWrittenResponse(BaseModel):
    dataset: str
    inserted: int = Field(ge=0)
    changed: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    targets: list[TargetOut]


class TargetListResponse(BaseModel):
    dataset: str
    targets: list[TargetOut]
