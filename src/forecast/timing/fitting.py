"""Fitting the timing models as of a date, and a tracked training run with its holdout."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecast import budget
from forecast.data.fingerprint import fingerprint
from forecast.errors import InsufficientHistory, InvalidInput
from forecast.formatting import rounded
from forecast.history import DealHistory, as_timestamp
from forecast.settings import Settings, get_settings
from forecast.timing.evaluation import evaluate_timing
from forecast.timing.hazard import TimeToClose
from forecast.timing.kaplan_meier import StageKaplanMeier
from forecast.timing.rows import survival_rows

# --- fitting both at a date ----------------------------------------------------------------------


def fit_timing(
    history: DealHistory,
    until: object,
    *,
    settings: Settings | None = None,
    seed: int | None = None,
    rows: pd.DataFrame | None = None,
) -> tuple[TimeToClose, StageKaplanMeier]:
    """The hazard model and the per-stage baseline, fitted on what was known before `until`.

    Raises `InsufficientHistory` when fewer than `timing_min_closed_deals` deals had closed.
    Checkpoints (`forecast.budget`) between the steps and inside the boosting stop it early.
    """
    settings = settings or get_settings()
    budget.check()
    if rows is None:
        rows = survival_rows(
            history,
            until,
            every_days=settings.timing_every_days,
            half_life_days=settings.timing_half_life_days,
        )
        budget.check()
    closed = int(rows.loc[rows["event"] > 0, "id"].nunique()) if len(rows) else 0
    if closed < settings.timing_min_closed_deals:
        raise InsufficientHistory(
            f"{closed} deals had closed before {as_timestamp(until).date()}; the time-to-close "
            f"model needs {settings.timing_min_closed_deals}"
        )
    n_stages = len(history.stages.open_stages)
    one_stage = "stage" in history.left_out  # `export_leaks`: a stage that tells the future
    model = TimeToClose(
        bucket_days=settings.timing_bucket_days,
        max_age_days=settings.timing_max_age_days,
        horizon_days=settings.timing_horizon_days,
        n_jobs=settings.timing_threads,
        random_state=settings.seed if seed is None else seed,
        recent_days=settings.timing_recent_days,
        one_stage=one_stage,
    ).fit(rows, n_stages)
    budget.check()
    baseline = StageKaplanMeier(
        max_age_days=max(730, settings.timing_max_age_days), one_stage=one_stage
    ).fit(rows, n_stages)
    return model, baseline


# --- a training run ------------------------------------------------------------------------------


@dataclass
class TimingResult:
    """A timing training run: the model, its and the baseline's holdout metrics, and the split."""

    model: TimeToClose
    baseline: StageKaplanMeier
    metrics: dict[str, dict[str, float]]
    calibration: dict[str, dict[str, list[float]]]
    split: dict[str, Any]
    rows: dict[str, int]
    params: dict[str, Any]
    seed: int
    dataset: str | None = None
    fingerprint: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    kind: str = "timing"

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "seed": self.seed,
            "split": self.split,
            "rows": self.rows,
            "fingerprint": self.fingerprint,
            "metrics": {
                k: {n: rounded(v, 6) for n, v in d.items()} for k, d in self.metrics.items()
            },
            "calibration": self.calibration,
            "params": self.params,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 2),
        }


def train_timing(
    history: DealHistory,
    *,
    settings: Settings | None = None,
    seed: int | None = None,
    incumbent: TimeToClose | None = None,
    dataset: str | None = None,
    horizons: Sequence[int] = (30, 60, 90),
) -> TimingResult:
    """Fit the time-to-close model and its baseline before a cut; test on what happened after.

    The cut leaves `timing_holdout_days` of test landmarks (every 14 days), each followed for
    max(horizons) days before the data ends. `incumbent` (the champion) is scored on the same
    holdout so the promotion gate compares like with like.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    seed = settings.seed if seed is None else seed
    if history.deals.empty:
        raise InvalidInput("no deals in the data: nothing to train on")
    end = history.end
    last_landmark = (end - pd.Timedelta(days=max(horizons))).normalize()
    cut = (last_landmark - pd.Timedelta(days=settings.timing_holdout_days)).normalize()
    at = list(pd.date_range(cut, last_landmark, freq="14D"))
    rows = survival_rows(
        history,
        cut,
        every_days=settings.timing_every_days,
        half_life_days=settings.timing_half_life_days,
    )
    model, baseline = fit_timing(history, cut, settings=settings, seed=seed, rows=rows)
    candidates: dict[str, Any] = {"model": model, "stage_km": baseline}
    warnings: list[str] = list(history.leak_notes)
    if incumbent is not None:
        candidates["champion"] = incumbent
    try:
        evaluation = evaluate_timing(candidates, history, at, end, horizons=horizons)
    except Exception as exc:  # noqa: BLE001 - a champion of another shape: compare by record
        if incumbent is None:
            raise
        warnings.append(f"the champion could not score this holdout ({exc})")
        candidates.pop("champion")
        evaluation = evaluate_timing(candidates, history, at, end, horizons=horizons)
    return TimingResult(
        model=model,
        baseline=baseline,
        metrics=evaluation.metrics,
        calibration=evaluation.calibration,
        split={
            "method": "time",
            "cut": str(cut.date()),
            "test_landmarks": evaluation.landmarks,
            "observed_until": str(end.date()),
            "horizons_days": list(horizons),
            "train": "deals as known before the cut, open ones censored",
            "test": "deals open at each test landmark, followed for the horizons",
        },
        # test_deals: the holdout's deals, as a deals run counts its own (its logged input).
        rows={**model.n_rows_, "test_rows": evaluation.rows, "test_deals": evaluation.deals},
        params={
            "bucket_days": model.bucket_days,
            "max_age_days": model.max_age_days,
            "horizon_days": model.horizon_days,
            "every_days": settings.timing_every_days,
            "learning_rate": model.learning_rate,
            "num_leaves": model.num_leaves,
            "min_child_samples": model.min_child_samples,
        },
        seed=seed,
        dataset=dataset,
        fingerprint=fingerprint(history.deals, history.stage_log),
        seconds=time.perf_counter() - started,
        warnings=warnings,
    )
