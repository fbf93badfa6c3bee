"""One settings object for the whole service, read from `FORECAST_*` env vars or `.env`.

Importing this module has no side effects: folders are made by the code that writes into them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORECAST_", env_file=".env", extra="ignore")

    state_dir: Path = Field(Path(".state"), description="SQLite store, MLflow, models")
    database_url: str | None = Field(None, description="Default: SQLite in state_dir")
    mlflow_tracking_uri: str | None = Field(None, description="Default: SQLite file in state_dir")

    # Import
    import_chunk_rows: int = Field(50_000, gt=0, description="Rows read and written per chunk")

    # Serving
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    cors_origins: list[str] = Field(default_factory=list, description="Empty: CORS off")
    max_body_bytes: int = Field(1_000_000, gt=0, description="Larger request bodies get 413")
    max_batch_size: int = Field(
        1000, gt=0, description="Most rows in one batch call (scoring, CRM sync, targets)"
    )
    key_cache_seconds: float = Field(5.0, ge=0, description="A revoked key stops within this")
    reload_check_seconds: float = Field(
        5.0,
        ge=0,
        description="The server checks this often whether the store's datasets (an import, a "
        "CRM push) or the registry's champions (`forecast train`, `promote`, `rollback`) "
        "changed, and reloads its models in the background when they did; 0: only on "
        "`POST /v1/admin/reload`",
    )
    reload_retry_seconds: float = Field(
        60.0,
        gt=0,
        description="A background reload that could not take what the registry lists (an "
        "artifact that would not download, a registry that timed out mid-load) is tried again "
        "after this long, not at every check",
    )
    log_level: str = "INFO"
    otel_telemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs, for a deployment "
        "that configures OpenTelemetry providers; off, the service's own Prometheus metrics "
        "and request-id logs remain, and a request skips FastAPI's look for providers "
        "(2.5 µs of the 50 µs a request costs the bare framework)",
    )
    # Bounded work: the expensive views (forecast, KPIs, at-risk, dashboard)
    heavy_concurrency: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) - 1),
        ge=1,
        description="Expensive requests computed at once; the rest wait, then get 503 "
        "(default: the cores but one, which is left to scoring)",
    )
    heavy_wait_seconds: float = Field(
        1.0, ge=0, description="How long an expensive request waits for a free slot"
    )
    heavy_budget_seconds: float = Field(
        20.0, gt=0, description="Server-side time budget of one expensive request (then 503)"
    )
    retry_after_seconds: int = Field(5, ge=1, description="Retry-After sent with a 503")
    track_every_hours: float = Field(
        24.0,
        ge=0,
        description="The server tracks the forecast history (`forecast track`) this often, "
        "first a minute after it starts; 0: never (run `forecast track` from cron)",
    )
    track_first_after_seconds: float = Field(
        60.0, ge=0, description="When the server's first tracking runs after it starts"
    )
    retrain_in_scheduler: bool = Field(
        False,
        description="After each tracking run the server also runs `forecast retrain --if-needed` "
        "for deals and leads (the thresholds below; the same promotion gate) and reloads the "
        "champions when one was promoted",
    )
    retrain_max_age_days: float | None = Field(
        90.0, ge=0, description="The scheduler retrains a champion older than this"
    )
    retrain_min_auc: float | None = Field(
        0.6, ge=0, le=1, description="…or whose realised AUC fell below this"
    )
    retrain_max_psi: float | None = Field(
        0.25, ge=0, description="…or one of whose inputs drifted past this PSI"
    )
    track_after_import: bool = Field(
        True,
        description="`forecast import` of deals tracks the forecast at once (`forecast track`), "
        "so the API and the dashboard serve it from the first view",
    )
    warm_up_on_start: bool = Field(
        True,
        description="Read the default deal dataset and build its default dashboard view while "
        "the server starts (`/readyz` says `warming` until done)",
    )
    track_after_change_seconds: float = Field(
        60.0,
        ge=0,
        description="A CRM push makes the server track again this long after it (pushes in "
        "between share the run), so the stored forecast follows the data",
    )
    forecast_processes: bool = Field(
        True,
        description="Compute forecasts in worker processes (killed when their request ends "
        "early); False: in the server's threads",
    )
    forecast_process_tasks: int = Field(
        8, ge=1, description="Forecasts a worker process computes before a fresh one replaces it"
    )
    forecast_process_max_mb: int = Field(
        900, ge=100, description="A worker process that grew past this is replaced after its task"
    )
    # The store and MLflow when they are slow or away
    sqlite_busy_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a SQLite writer waits for another's lock (then 503); behind a "
        "queue of writers that keep finishing, up to 12 times this",
    )
    mlflow_timeout_seconds: float = Field(
        5.0, gt=0, description="Timeout of one MLflow tracking/registry call"
    )
    mlflow_max_retries: int = Field(0, ge=0, description="Retries of a failed MLflow HTTP call")
    deal_dataset: str | None = Field(
        None,
        description="Dataset deals are scored against "
        "(stages, win rates), CRM pushes go to, and targets and "
        "the forecast API read; default: the only one in the store",
    )
    lead_dataset: str | None = Field(
        None,
        description="Dataset whose lead model scores a lead request that names none (?dataset=); "
        "default: the only dataset with a lead model, else the only one with a lead champion",
    )

    # Training
    seed: int = Field(42, ge=0)
    lgbm_threads: int = Field(default_factory=lambda: os.cpu_count() or 1)
    # Small CRMs train too: the holdout metrics carry bootstrap intervals and promotion needs
    # the paired bootstrap's gain to be real, so few deals mean wide intervals, not a refusal.
    min_won_deals: int = Field(30, ge=1, description="Won deals deal training needs")
    min_lost_deals: int = Field(30, ge=1, description="Lost deals deal training needs")
    min_converted_leads: int = Field(30, ge=1, description="Converted leads lead training needs")
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    min_holdout_per_class: int = Field(5, ge=1, description="Fewest holdout rows of each outcome")
    bootstrap_resamples: int = Field(
        1000, ge=100, description="Resamples of the holdout for intervals and the paired gate"
    )
    cv_folds: int = Field(5, ge=2, description="Stratified CV folds where data has no dates")
    snapshot_every_days: int = Field(14, ge=0, description="Deal snapshot spacing; 0: entries only")
    team_min_won_deals: int = Field(200, ge=1, description="Won deals a team needs for own model")
    team_min_lost_deals: int = Field(200, ge=1, description="Lost deals a team needs for own model")
    leak_warning_auc: float = Field(0.95, gt=0.5, le=1, description="One column this good: warn")
    promote_min_auc_gain: float = Field(
        0.0, ge=0, description="AUC gain the 95% interval's low end must exceed to promote"
    )
    promote_min_brier_gain: float = Field(
        0.0, ge=0, description="Brier gain the 95% interval's low end must exceed to promote"
    )

    # Time to close and the revenue forecast
    timing_bucket_days: int = Field(7, ge=1, description="Width of a hazard time bucket")
    timing_horizon_days: int = Field(182, ge=7, description="Longest horizon the hazard learns")
    timing_max_age_days: int = Field(364, ge=7, description="Older deals share the last age bin")
    timing_every_days: int = Field(28, ge=0, description="Landmark spacing for the timing model")
    timing_half_life_days: float = Field(
        182.0,
        ge=0,
        description="Training landmarks weigh half as much per this many days of age (0: equal)",
    )
    timing_recent_days: float = Field(
        91.0,
        ge=0,
        description="The time-to-close model takes up the level of this many last days where it "
        "differs beyond its noise (0: off)",
    )
    timing_min_closed_deals: int = Field(30, ge=1, description="Closed deals timing needs")
    timing_holdout_days: int = Field(56, ge=0, description="Span of timing test landmarks")
    timing_threads: int = Field(1, ge=1, description="LightGBM threads for the timing model")
    new_deal_window_days: int = Field(91, ge=7, description="Recent creations that set the pace")
    dask_scheduler: str | None = Field(
        None,
        description="Dask scheduler address (tcp://HOST:8786) or 'local' for a LocalCluster on "
        "this machine; unset: train, score and backtest in-process",
    )
    dask_local_workers: int = Field(2, ge=1, description="Worker processes of `--cluster local`")
    forecast_horizon_days: int = Field(
        730, ge=1, description="Furthest a forecast's as-of date or period may lie past the data"
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir.resolve() / 'forecast.db'}"

    @property
    def resolved_mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.state_dir.resolve() / 'mlflow.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
