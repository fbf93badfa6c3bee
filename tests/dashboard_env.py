"""One store for the dashboard tests (TestClient and browser): the shared CRM opportunities,
targets for 2017-Q4, a key of each role and a deal model fitted in memory.

Built once per test process (both test modules share it): the import and the model take
seconds, the forecast models fitted by the first page view are then reused.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from fastapi import FastAPI

from forecast import keys, scoring
from forecast.data import store
from forecast.data.importing import import_export
from forecast.history import load_deal_history
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.fitting import TrainingResult
from forecast.modeling.scorers import select_scorer
from forecast.settings import Settings
from tests.conftest import OPPORTUNITIES_DIR

DATASET = "crm_sales_opportunities"
TEAM = "Melvin Marxen"
TARGETS = [
    {"level": "all", "name": "total", "period": "2017-Q4", "amount": 3_000_000},
    {"level": "team", "name": TEAM, "period": "2017-Q4", "amount": 800_000},
    {"level": "all", "name": "total", "period": "2017-Q3", "amount": 2_800_000},
    {"level": "all", "name": "total", "period": "2018-Q1", "amount": 2_000_000},
]


@dataclass
class DashboardEnv:
    settings: Settings
    keys: dict[str, str]
    deal: TrainingResult


@lru_cache(maxsize=1)
def dashboard_env() -> DashboardEnv:
    from forecast.forecasting.targets import set_targets

    settings = Settings(
        state_dir=tempfile.mkdtemp(prefix="forecast-dashboard-"),
        key_cache_seconds=0,
        max_body_bytes=10_000,
    )
    engine = store.get_engine(settings)
    import_export(engine, OPPORTUNITIES_DIR)
    set_targets(engine, TARGETS)
    made = {}
    with engine.begin() as conn:
        for role in keys.ROLES:
            made[role] = keys.create_key(conn, role, f"dashboard {role}")[1]
    deal = train_deals(load_deal_history(engine, DATASET), settings=settings, dataset=DATASET)
    return DashboardEnv(settings, made, deal)


def dashboard_app(env: DashboardEnv, *, with_model: bool = True) -> FastAPI:
    """The app on the env's store; the fitted deal model served as the registry's champion
    (put on the app before it starts: its lifespan then keeps it in place of a loaded one)."""
    from serving.app import create_app

    app = create_app(env.settings)
    if with_model:
        metrics = {
            who: {k: float(v) for k, v in m.items() if k in ("roc_auc", "brier")}
            for who, m in env.deal.metrics.items()
        }
        details = {"trained_at": datetime(2018, 1, 2, 9, 30), "metrics": metrics}
        scorer = select_scorer(env.deal.model)
        scorer.label = "model close-probability v1"
        app.state.models.deal = scoring.Served(scoring.DEAL, scorer, "1", "registry", details)
    return app
