"""The revenue forecast's response models (`GET /v1/forecast`): per group with its range, the
forecast users get (the headline), how far it and ours were off before, and the naive forecasts
beside them. Plain Python types only."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.target_schemas import TargetOut


class PeriodOut(BaseModel):
    label: str = Field(examples=["2017-Q3"])
    start: str = Field(description="First day", examples=["2017-07-01"])
    end: str = Field(description="First day after the period", examples=["2017-10-01"])
    freq: Literal["month", "quarter", "year"]


class GroupForecastOut(BaseModel):
    group: str = Field(description="The team, rep, product or region; 'total' for all")
    deals: int = Field(ge=0, description="Open deals in the pipeline at as_of")
    pipeline_value: float = Field(description="Their amounts summed")
    won_so_far: float = Field(description="Won inside the period before as_of")
    expected_pipeline: float = Field(description="Expected won revenue from open deals")
    expected_new: float | None = Field(
        None, description="Expected won revenue from deals not yet created (null: no line)"
    )
    expected: float = Field(description="won_so_far + expected_pipeline + expected_new")
    p10: float
    p50: float
    p90: float
    weighted_pipeline: float | None = Field(
        None, description="The classic amount × stage win rate (no timing), plus won so far"
    )
    target: float | None = Field(None, description="The stored target for this group, if any")
    p_target: float | None = Field(None, ge=0, le=1, description="Chance to reach the target")


class CoverageOut(BaseModel):
    """How often the P10–P90 range held what was won."""

    n: int = Field(ge=0, description="Past forecasts that had a range")
    hits: int = Field(ge=0, description="Of them, those whose actual fell inside P10–P90")
    share: float | None = Field(None, ge=0, le=1, description="hits / n (0.8 is the promise)")
    wilson_95: list[float | None] = Field(
        description="95% Wilson interval of the share: honest for small n (2 of 3: 21%–94%)",
        min_length=2,
        max_length=2,
    )


class MethodAccuracyOut(BaseModel):
    """How far one method's forecasts in the track record were off, as known at as_of."""

    method: str = Field(
        description="Whose rows: `chosen` (what users would have seen at each past origin), "
        "`model` (ours) or a method's own"
    )
    label: str
    horizon_weeks: int = Field(description="The horizon asked for: weeks before the period start")
    horizon_weeks_used: int = Field(
        description="The horizon read: the one asked, or the nearest with enough past forecasts"
    )
    windows_ended_by: str = Field(description="Only windows ended by this date (the as-of) count")
    n: int = Field(ge=1, description="Past forecasts read")
    median_ape: float | None = Field(
        None, description="Median |forecast − actual| / actual, over windows where revenue was won"
    )
    wape: float | None = Field(None, description="Σ|forecast − actual| / Σ actual")
    bias: float | None = Field(None, description="Σ(forecast − actual) / Σ actual: > 0 optimistic")
    coverage: CoverageOut | None = Field(
        None, description="P10–P90 held the actual in hits of n (null: these rows had no range)"
    )


class PastAccuracyOut(BaseModel):
    """How far the forecast users see, and ours, were off at this horizon on the track record."""

    shown: MethodAccuracyOut | None = Field(
        None,
        description="What users see: the headline's past (the rows of what was chosen at each "
        "past origin), or ours where ours stands",
    )
    model: MethodAccuracyOut | None = Field(None, description="Ours, with its model's range")
    method: MethodAccuracyOut | None = Field(
        None,
        description="The method shown now, on its own past forecasts (absent when it is ours)",
    )


class NaiveOut(BaseModel):
    """The forecasts a manager could make by hand, for the period now, beside ours."""

    labels: dict[str, str] = Field(
        description="Each method's name: run_rate, last_period, last_year, weighted_pipeline"
    )
    total: dict[str, float | None] = Field(
        description="Per method, its forecast of the total (null: the history cannot give it)"
    )
    groups: dict[str, dict[str, float | None]] = Field(
        description="Per group (where grouped), per method, its forecast"
    )


class HeadlineOut(BaseModel):
    """The forecast users get: the method most accurate on the dataset's track record."""

    method: str = Field(description="model, run_rate, last_period, last_year, weighted_pipeline…")
    label: str
    forecast: float
    p10: float | None
    p50: float | None
    p90: float | None
    range: str = Field(description="empirical (past errors of this method) or model (ours)")
    target: float | None = Field(None, description="The total's target, where one is set")
    p_target: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Chance this forecast reaches the target: read off its P10/P50/P90 (a "
        "log-normal tail beyond them); ours' exact one where ours is the method",
    )
    choice: dict[str, Any] = Field(
        description="Why: past forecasts compared (n), horizon, each candidate's past WAPE"
    )
    groups: dict[str, dict[str, float | None]] = Field(
        description="Per group: the chosen method's forecast and range, and its target and "
        "P(target) where the group has a target"
    )
    past: PastAccuracyOut | None = Field(
        None,
        description="How far this method on its own past forecasts, what was chosen at each past "
        "origin, and ours were off at this horizon before: median error, WAPE, bias, P10–P90 "
        "coverage",
    )


#: One group's line in the response's example (the total repeats it, without a target).
_TEAM_LINE: dict[str, Any] = {
    "group": "Team Costa",
    "deals": 41,
    "pipeline_value": 612000.0,
    "won_so_far": 0.0,
    "expected_pipeline": 188000.0,
    "expected_new": 52000.0,
    "expected": 240000.0,
    "p10": 171000.0,
    "p50": 236000.0,
    "p90": 312000.0,
    "weighted_pipeline": 205000.0,
    "target": 250000.0,
    "p_target": 0.44,
}


class ActualOut(BaseModel):
    """What the period won, as the data knows it, beside a forecast made as of an earlier date."""

    through: str = Field(
        description="Won up to this day, included (the period's last, or the data's)"
    )
    complete: bool = Field(description="The data covers the whole period")
    total: float = Field(description="Won revenue in the period (the one group's, if asked)")
    groups: dict[str, float] = Field(description="Per `by` group (empty without `by`)")


class StoredOut(BaseModel):
    as_of: str = Field(description="The tracked date")
    run_at: str = Field(description="When the tracking run computed it (UTC)")


class ForecastResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dataset": "pipeline",
                    "group": None,
                    "period": {
                        "label": "2017-Q3",
                        "start": "2017-07-01",
                        "end": "2017-10-01",
                        "freq": "quarter",
                    },
                    "as_of": "2017-07-01",
                    "by": "team",
                    "method": "time-to-close model",
                    "range": "exact convolution of per-deal outcomes (lattice), P10/P50/P90",
                    "new_deals_line": True,
                    "groups": [_TEAM_LINE],
                    "total": {**_TEAM_LINE, "group": "total", "target": None, "p_target": None},
                    "notes": [],
                    "targets": [
                        {
                            "level": "team",
                            "name": "Team Costa",
                            "period": "2017-Q3",
                            "amount": 250000.0,
                            "currency": "USD",
                            "updated_at": "2017-06-20T08:00:00Z",
                        }
                    ],
                }
            ]
        }
    )
    dataset: str
    group: str | None = Field(None, description="The one group asked for, if any")
    currency: str | None = Field(
        None,
        description="The currency of every amount; null where the deals are in several "
        "(added unconverted: the notes say so)",
    )
    period: PeriodOut
    as_of: str = Field(description="The pipeline and models are as known at this date")
    by: Literal["team", "rep", "product", "region"] | None
    method: str = Field(description="What gave the timing: the model or a fallback")
    range: str
    new_deals_line: bool = Field(description="Deals not yet created are included")
    groups: list[GroupForecastOut] = Field(description="One line per group, largest first")
    total: GroupForecastOut
    notes: list[str]
    targets: list[TargetOut] = Field(description="The stored targets this forecast used")
    headline: HeadlineOut | None = Field(
        None,
        description="The forecast users get when the dataset has a track record "
        "(`forecast backtest --every week`): the most accurate method at this horizon; "
        "None: ours leads (the notes say why)",
    )
    past_accuracy: PastAccuracyOut | None = Field(
        None,
        description="How far the forecast shown (the headline, or ours where ours leads) and "
        "ours were off at this horizon on the track record; null without a record",
    )
    naive: NaiveOut | None = Field(
        None,
        description="The naive forecasts of the period now (run rate, last period, same period "
        "last year) and the weighted pipeline, in total and per group",
    )
    actual: ActualOut | None = Field(
        None,
        description="What the period won, as the data knows it, where the data reaches past "
        "as_of (a period already over is forecast as of its start): null otherwise",
    )
    stored: StoredOut | None = Field(
        None,
        description="Served from the forecast tracked on this date (`forecast track`, the "
        "server's schedule): the data, targets and track record are unchanged since; null: "
        "computed for this request",
    )
