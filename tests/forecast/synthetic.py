"""Small generated data with known signal, for fast model tests (no shared data, no store)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.stages import StageSet
from forecast.history import DealHistory

STAGES = StageSet(open_stages=("Prospecting", "Qualification", "Closing"))
START = pd.Timestamp("2022-01-01")


def deals(
    n: int = 1200, seed: int = 0, days: int = 540, teams: int = 2
) -> tuple[pd.DataFrame, pd.DataFrame, StageSet, pd.Timestamp]:
    """(opportunities, history, stages, end): deals with rep skill and product effects.

    Won deals pass every stage; lost deals drop out after a random stage. Deals not closed by
    `end` are open, with their history cut at `end`.
    """
    rng = np.random.default_rng(seed)
    reps = np.array([f"rep{i}" for i in range(8)])
    skill = np.linspace(-1.0, 1.0, len(reps))
    products = np.array(["Basic", "Pro", "Enterprise"])
    price = np.array([500.0, 2500.0, 9000.0])
    effect = np.array([0.6, 0.0, -0.6])
    r = rng.integers(0, len(reps), n)
    p = rng.integers(0, len(products), n)
    created = START + pd.to_timedelta(rng.uniform(0, days, n), unit="D").round("D")
    logit = skill[r] + effect[p] + rng.normal(0, 0.7, n)
    won = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    last_stage = np.where(won, 2, rng.integers(0, 3, n))
    end = START + pd.Timedelta(days=days + 30)
    hist_rows, closed_at = [], []
    for i in range(n):
        t = created[i]
        for s in range(last_stage[i] + 1):
            if s > 0:
                t = t + pd.Timedelta(days=int(rng.integers(3, 25 if won[i] else 12)))
            hist_rows.append((f"D{i:05d}", STAGES.open_stages[s], t))
        t = t + pd.Timedelta(days=int(rng.integers(2, 30 if won[i] else 10)))
        hist_rows.append((f"D{i:05d}", "Won" if won[i] else "Lost", t))
        closed_at.append(t)
    history = pd.DataFrame(hist_rows, columns=["opportunity_id", "stage", "entered_at"])
    history = history[history["entered_at"] <= end].reset_index(drop=True)
    closed = pd.Series(pd.to_datetime(closed_at))
    is_closed = (closed <= end).to_numpy()
    status = np.where(is_closed, np.where(won, "won", "lost"), "open")
    last = history.groupby("opportunity_id")["stage"].last()
    ids = np.array([f"D{i:05d}" for i in range(n)])
    opps = pd.DataFrame(
        {
            "id": ids,
            "account": [f"acct{k}" for k in rng.integers(0, 40, n)],
            "owner": reps[r],
            "team": [f"team{k % teams}" for k in r],
            "region": np.where(r % 2 == 0, "East", "West"),
            "product": products[p],
            "product_series": np.where(p == 2, "Big", "Small"),
            "list_price": price[p],
            "amount": price[p] * rng.uniform(0.8, 1.2, n),
            "amount_estimated": False,
            "currency": "USD",
            "stage": last.reindex(ids).to_numpy(),
            "status": status,
            "created_at": created.astype("datetime64[us]"),
            "created_estimated": False,
            "closed_at": closed.where(is_closed).astype("datetime64[us]").to_numpy(),
            "updated_at": end,
            "expected_close_at": pd.NaT,
            "rep_probability": np.where(won, 0.9, 0.1),  # typed in with hindsight: must not be used
            "forecast_category": None,
            "csat": np.where(is_closed, rng.uniform(1, 5, n), np.nan),
            "sector": rng.choice(["retail", "tech", "health"], n),
            "account_employees": rng.integers(10, 5000, n).astype(float),
            "account_revenue": rng.uniform(1, 1000, n),
            "account_country": rng.choice(["US", "DE", "FR"], n),
        }
    )
    return opps, history, STAGES, end


def deal_history(
    n: int = 1200, seed: int = 0, days: int = 540, teams: int = 2, *, check_leaks: bool = True
) -> DealHistory:
    """The deals of `deals(...)` as one `DealHistory`, read as an import reads an export: each
    deal's fields seen once (at `updated_at`, the end), the export-state leak check run."""
    opps, log, stages, _ = deals(n, seed=seed, days=days, teams=teams)
    return DealHistory.from_frames(
        opps, log, stages, name=f"synthetic-{n}-{seed}", check_leaks=check_leaks
    )


def leads(n: int = 1500, seed: int = 0, dated: bool = False) -> pd.DataFrame:
    """Leads: signal in `Lead Source` and `TotalVisits`, noise in `Country`, a leaking `Tags`."""
    rng = np.random.default_rng(seed)
    sources = np.array(["Reference", "Google", "Olark Chat", "Direct"])
    source_effect = np.array([1.5, 0.0, -1.0, -0.3])
    s = rng.integers(0, len(sources), n)
    visits = rng.poisson(3, n).astype(float)
    # A threshold and an interaction (engagement counts except for chat leads): not linear.
    engaged = (visits >= 4) & (sources[s] != "Olark Chat")
    logit = source_effect[s] + 2.2 * engaged + 0.1 * visits + rng.normal(0, 0.5, n) - 1.3
    converted = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    tags = np.where(converted == 1, "Closed by Horizzon", "Ringing")
    flip = rng.uniform(size=n) < 0.02
    tags = np.where(flip, np.where(converted == 1, "Ringing", "Closed by Horizzon"), tags)
    frame = pd.DataFrame(
        {
            "id": [f"L{i:05d}" for i in range(n)],
            "Lead Source": pd.array(sources[s], dtype="str"),
            "TotalVisits": visits,
            "Country": pd.array(rng.choice(["India", "US", None], n), dtype="str"),
            "Do Not Email": rng.choice(["Yes", "No"], n, p=[0.1, 0.9]),
            "Tags": tags,
            "converted": pd.array(converted, dtype="Int64"),
        }
    )
    if dated:
        frame["created_at"] = START + pd.to_timedelta(np.sort(rng.uniform(0, 365, n)), unit="D")
    return frame


def track_record(
    errors: dict[str, float], first: str, windows: int = 12, actual: float = 100_000.0
) -> pd.DataFrame:
    """A made-up track record (`BacktestReport.forecast_table()` shaped): quarter-long windows
    starting each week from `first`, forecast at their start, each method off by its error
    (alternately over and under)."""
    rows = []
    for i in range(windows):
        start = pd.Timestamp(first) + pd.Timedelta(weeks=i)
        won = actual + 1_000 * i
        for method, error in errors.items():
            rows.append(
                {
                    "origin": start,
                    "horizon_weeks": 0,
                    "window": str(start.date()),
                    "start": start,
                    "end": start + pd.DateOffset(months=3),
                    "sealed": False,
                    "method": method,
                    "actual": won,
                    "forecast": won * (1 + error * (-1) ** i),
                    "p10": float("nan"),
                    "p50": float("nan"),
                    "p90": float("nan"),
                }
            )
    return pd.DataFrame(rows)
