"""The store's tables: the one description both the migrations and the code read.

The schema itself is owned by Alembic (`forecast/data/migrations`); each revision creates what
these definitions describe.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from forecast.data.record_ids import ID_CHARACTERS

#: Fields with a history of their own (everything but identity, stage/outcome and bookkeeping).
TRACKED_FIELDS: tuple[str, ...] = (
    "account",
    "owner",
    "team",
    "region",
    "product",
    "product_series",
    "list_price",
    "amount",
    "amount_estimated",
    "currency",
    "expected_close_at",
    "rep_probability",
    "forecast_category",
    "csat",
    "sector",
    "account_employees",
    "account_revenue",
    "account_country",
)

metadata = MetaData()

datasets = Table(
    "datasets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(20), nullable=False),  # "opportunities" | "leads"
    Column("stages", JSON, nullable=True),
    Column("leak_columns", JSON, nullable=True),
    Column("options", JSON, nullable=True),
    Column("created_at", DateTime, nullable=False),
    # Its version: when what is stored of it last changed (rows, observations, this record).
    Column("updated_at", DateTime, nullable=False),
    # When a writer last took its write lock, changing something or not (`store.lock_dataset`).
    Column("locked_at", DateTime),
)

# What people entered in the CRM. What a model computes lives elsewhere, so both can be compared.
opportunities = Table(
    "opportunities",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("id", String(ID_CHARACTERS), primary_key=True),
    Column("account", String(200)),
    Column("owner", String(200)),
    Column("team", String(200)),
    Column("region", String(100)),
    Column("product", String(200)),
    Column("product_series", String(100)),
    Column("list_price", Float),
    Column("amount", Float),
    Column("amount_estimated", Boolean, nullable=False, default=False),
    Column("currency", String(3), nullable=False, default="USD"),
    Column("stage", String(100), nullable=False),
    Column("status", String(10), nullable=False),  # open | won | lost
    Column("created_at", DateTime),
    Column("created_estimated", Boolean, nullable=False, default=False),
    Column("closed_at", DateTime),
    Column("updated_at", DateTime, nullable=False),
    Column("expected_close_at", DateTime),
    Column("rep_probability", Float),
    Column("forecast_category", String(20)),
    Column("csat", Float),
    Column("sector", String(100)),
    Column("account_employees", Float),
    Column("account_revenue", Float),
    Column("account_country", String(100)),
    # A mapping's `features:`: the CRM's own columns kept as model inputs, {column: value}.
    Column("attributes", JSON),
    # Breaks a tie between two states of one `updated_at` the same way whatever their arrival
    # order: the later stage, then the larger digest of the content (`store.upsert_opportunities`).
    Column("state_key", String(80)),
    Index("ix_opportunities_dataset_status", "dataset", "status"),
)

# Stage observations, kept as a set: an entry (the deal entered `stage` at `entered_at`: a dated
# stage, an outcome at its close date, a history file's row) or, with `seen_only`, a sighting (a
# push or export said the deal was in `stage` at that time). The stage history the library reads
# is derived from the whole set (`forecast.data.stage_log`), so arrival order does not matter.
stage_history = Table(
    "stage_history",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False),
    Column("opportunity_id", String(100), nullable=False),
    Column("stage", String(100), nullable=False),
    Column("entered_at", DateTime, nullable=False),
    Column("seen_only", Boolean, nullable=False, default=False),
    UniqueConstraint("dataset", "opportunity_id", "stage", "entered_at", name="uq_stage_history"),
)

# Append-only: each row is a deal's changeable fields as observed at one time (an export's
# `updated_at` or date, a CRM push). Every observation is kept (one per deal and time, the same
# winner whatever the arrival order), so the values at any date do not depend on push order;
# re-imports and repeated pushes of the same time add nothing.
field_history = Table(
    "field_history",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False),
    Column("opportunity_id", String(100), nullable=False),
    Column("observed_at", DateTime, nullable=False),
    *[Column(name, opportunities.c[name].type) for name in TRACKED_FIELDS],
    UniqueConstraint("dataset", "opportunity_id", "observed_at", name="uq_field_history"),
)

leads = Table(
    "leads",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("id", String(ID_CHARACTERS), primary_key=True),
    Column("converted", Integer),
    Column("created_at", DateTime),
    Column("updated_at", DateTime, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("converted_at", DateTime),  # when a converted lead converted, where the export says
)

# API keys: only a hash is kept; the key itself is shown once, when it is created.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    # Bound to one dataset: its scoring requests get that dataset's models (null: any).
    Column("dataset", String(100)),
)

# Dashboard sessions signed out before their cookie expired (see `serving.sessions`); a row is
# dropped once `expires_at` (when the cookie would stop working anyway) has passed.
revoked_sessions = Table(
    "revoked_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("expires_at", DateTime, nullable=False),
)

# Every score served, for monitoring: who asked (request id), which model, what it said.
score_log = Table(
    "score_log",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("kind", String(10), nullable=False),  # lead | deal
    Column("model", String(200), nullable=False),
    Column("model_version", String(50), nullable=False),
    Column("inputs_fingerprint", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("score", Integer, nullable=False),
    Column("scored_at", DateTime, nullable=False),
    # What was scored, so scores can be joined with outcomes: the deal's or lead's id (when the
    # request named one) and the dataset it belongs to; `inputs` keeps the model's inputs as
    # scored (small rows only) for drift.
    Column("subject_id", String(200)),  # as long as a request's id may be
    Column("dataset", String(100)),
    Column("inputs", JSON),
    Index("ix_score_log_scored_at", "scored_at"),
    Index("ix_score_log_subject", "kind", "dataset", "subject_id"),
)

# Targets (quotas) per group and period: level all|team|rep|product|region, e.g. ("team",
# "Team East", "2017-Q3"). Set by an admin or a CSV import; shown against the forecast.
targets = Table(
    "targets",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("level", String(20), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("amount", Float, nullable=False),
    Column("currency", String(3), nullable=False, default="USD"),
    Column("updated_at", DateTime, nullable=False),
)

# The track record of a dataset's forecasts: every forecast of its latest backtest (per
# frequency), by method, beside what was won. Choosing the method users get reads it
# (`forecast.forecasting.track_record`); a new backtest replaces it.
track_record = Table(
    "track_record",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False),
    Column("freq", String(10), nullable=False),
    Column("run_at", DateTime, nullable=False),
    Column("origin", DateTime, nullable=False),
    Column("horizon_weeks", Float, nullable=False),
    Column("window_label", String(40), nullable=False),
    Column("window_start", DateTime, nullable=False),
    Column("window_end", DateTime, nullable=False),
    Column("sealed", Boolean, nullable=False),
    Column("method", String(40), nullable=False),
    Column("actual", Float, nullable=False),
    Column("forecast", Float, nullable=False),
    Column("p10", Float),
    Column("p50", Float),
    Column("p90", Float),
    Index("ix_track_record_dataset_freq", "dataset", "freq"),
)

# Forecast history: every tracked forecast of a dataset (`forecast track`, the server's daily
# run), per period, level (total, team, rep) and group, as of its date; a run for the same date
# replaces that date's rows (`forecast.forecasting.forecast_runs`).
forecast_runs = Table(
    "forecast_runs",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False),
    Column("as_of", DateTime, nullable=False),
    Column("run_at", DateTime, nullable=False),
    Column("period", String(20), nullable=False),
    Column("period_start", DateTime, nullable=False),
    Column("period_end", DateTime, nullable=False),
    Column("level", String(20), nullable=False),
    Column("group_name", String(200), nullable=False),
    Column("expected", Float, nullable=False),
    Column("p10", Float, nullable=False),
    Column("p50", Float, nullable=False),
    Column("p90", Float, nullable=False),
    Column("won_so_far", Float, nullable=False),
    Column("pipeline_value", Float, nullable=False),
    Column("weighted_pipeline", Float),
    Column("method", String(80), nullable=False),
    Column("models", String(200), nullable=False),
    Column("rep_call", Float),  # won to date + Σ amount × rep probability expected in the period
    Column("rep_commit", Float),  # won to date + the Commit deals expected in the period
    UniqueConstraint("dataset", "as_of", "period", "level", "group_name", name="uq_forecast_runs"),
    Index("ix_forecast_runs_period", "dataset", "period", "level"),
)

# Stored forecasts: the whole forecast of a period per grouping ("total", "team", "rep") as
# tracked on a date, with the data version and what else it depends on (`fingerprint`), so the
# API, the dashboard and the CLI serve it while nothing it was made from changed
# (`forecast.forecasting.stored_forecasts`).
forecast_documents = Table(
    "forecast_documents",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False),
    Column("period", String(20), nullable=False),
    Column("grouping", String(20), nullable=False),
    Column("as_of", DateTime, nullable=False),
    Column("run_at", DateTime, nullable=False),
    Column("data_version", String(64), nullable=False),
    Column("data_end", DateTime, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("document", JSON, nullable=False),
    UniqueConstraint("dataset", "period", "grouping", "as_of", name="uq_forecast_documents"),
)

# Batch scores: the latest `forecast score --store` of a dataset and kind (every open deal or
# lead, with the model and reasons the API gives); a new batch replaces the previous one whole
# (`forecast.batch_output`). Reasons are the API's `reasons_for` / `reasons_against` as JSON text,
# notes the API's notes as a JSON list of text ('[]': none, as for a batch stored before 0016).
batch_scores = Table(
    "batch_scores",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("scored_at", DateTime, nullable=False),
    Column("as_of", DateTime),
    Column("subject_id", String(200), nullable=False),
    Column("probability", Float, nullable=False),
    Column("score", Integer, nullable=False),
    Column("grade", String(10)),  # null: a fallback that ranks nothing (0017)
    Column("model", String(100), nullable=False),
    Column("model_version", String(40)),
    Column("method", String(40), nullable=False),
    Column("reasons_for", Text, nullable=False),
    Column("reasons_against", Text, nullable=False),
    Column("notes", Text, nullable=False, server_default="[]"),
    Index("ix_batch_scores_batch", "dataset", "kind", "subject_id"),
)

#: The canonical columns (a deal's own `attributes` are read and written apart).
OPPORTUNITY_COLUMNS = [
    c.name for c in opportunities.columns if c.name not in ("state_key", "attributes")
]
