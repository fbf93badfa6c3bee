"""Training time and peak memory of the close-probability model on generated deals.

    .venv/bin/python bench/train_bench.py [--deals 1000000] [--seed 7]

Builds the deals' `DealHistory` (with the export-state leak check, as an import does), then runs
the full `forecast.modeling.deal_fitting.train_deals` path (as-of snapshots, global and per-team
LightGBM with calibration, the three baselines, holdout evaluation) with LightGBM threads set to
the machine's cores, and prints wall times and the process's peak resident memory (ru_maxrss,
which counts LightGBM's and numpy's native allocations that tracemalloc does not see).
Deals come from `forecast.data.generator.generate_pipeline` when that module exists, else from the
vectorised generator below (same shape: opportunities, stage history, stages).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np
import pandas as pd


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    try:
        from forecast.data.generator import generate_pipeline
    except ImportError:
        return _generate(n, seed)
    data = generate_pipeline(n, seed=seed)
    return data.opportunities, data.history, data.stages


def _generate(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """Vectorised deals with rep, product and team effects over 3 years; 5 open stages."""
    from forecast.data.stages import DEFAULT_STAGES

    rng = np.random.default_rng(seed)
    stages = DEFAULT_STAGES
    k = len(stages.open_stages)
    reps = 200
    skill = rng.normal(0, 0.6, reps)
    product_effect = np.array([0.5, 0.2, 0.0, -0.3, -0.6])
    prices = np.array([500.0, 1500.0, 4000.0, 9000.0, 25000.0])
    rep = rng.integers(0, reps, n)
    product = rng.integers(0, len(prices), n)
    start = np.datetime64("2021-01-01")
    created = start + rng.integers(0, 3 * 365, n).astype("timedelta64[D]")
    logit = skill[rep] + product_effect[product] + rng.normal(0, 1.0, n)
    won = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    last = np.where(won, k - 1, rng.integers(0, k, n))
    gaps = rng.integers(2, 30, (n, k + 1)).astype("timedelta64[D]")
    gaps[~won] //= 2
    gaps[:, 0] = np.timedelta64(0, "D")
    entered = created[:, None] + np.cumsum(gaps, axis=1)  # stage s entered at column s
    ids = np.char.add("D", np.arange(n).astype(str))
    parts = []
    for s in range(k):
        mask = last >= s
        parts.append(
            pd.DataFrame(
                {
                    "opportunity_id": ids[mask],
                    "stage": stages.open_stages[s],
                    "entered_at": entered[mask, s],
                }
            )
        )
    closed = entered[np.arange(n), last + 1]
    end = start + np.timedelta64(3 * 365 + 60, "D")
    is_closed = closed <= end
    parts.append(
        pd.DataFrame(
            {
                "opportunity_id": ids[is_closed],
                "stage": np.where(won[is_closed], stages.won, stages.lost),
                "entered_at": closed[is_closed],
            }
        )
    )
    history = pd.concat(parts, ignore_index=True)
    history = history[history["entered_at"] <= end]
    history["entered_at"] = history["entered_at"].astype("datetime64[us]")
    status = np.where(is_closed, np.where(won, "won", "lost"), "open")
    opps = pd.DataFrame(
        {
            "id": ids,
            "account": np.char.add("A", rng.integers(0, 5000, n).astype(str)),
            "owner": np.char.add("rep", rep.astype(str)),
            "team": np.char.add("team", (rep % 8).astype(str)),
            "region": np.where(rep % 2 == 0, "East", "West"),
            "product": np.char.add("P", product.astype(str)),
            "product_series": np.where(product < 2, "Small", "Big"),
            "list_price": prices[product],
            "amount": prices[product] * rng.uniform(0.8, 1.2, n),
            "amount_estimated": False,
            "currency": "USD",
            "stage": "",
            "status": status,
            "created_at": created.astype("datetime64[us]"),
            "created_estimated": False,
            "closed_at": np.where(is_closed, closed, np.datetime64("NaT")).astype("datetime64[us]"),
            "sector": rng.choice(["retail", "tech", "health", "finance"], n),
            "account_employees": rng.integers(10, 50_000, n).astype(float),
            "account_revenue": rng.uniform(1, 5000, n),
            "account_country": rng.choice(["US", "DE", "FR", "IN", "BR"], n),
        }
    )
    return opps, history, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from forecast import features as feat
    from forecast.history import DealHistory
    from forecast.modeling.deal_fitting import train_deals
    from forecast.settings import Settings

    cores = os.cpu_count() or 1
    settings = Settings(lgbm_threads=cores, state_dir="/tmp/forecast-train-bench")
    print(f"deals: {args.deals:,}  LightGBM threads: {cores}  python {sys.version.split()[0]}")

    t0 = time.perf_counter()
    opps, history, stages = generate(args.deals, args.seed)
    t_gen = time.perf_counter() - t0
    print(
        f"generate:        {t_gen:8.1f} s   ({len(history):,} stage entries)  "
        f"peak RSS so far {peak_rss_mb():,.0f} MiB"
    )

    t0 = time.perf_counter()
    deals = DealHistory.from_frames(opps, history, stages, name="train-bench")
    del opps, history
    t_hist = time.perf_counter() - t0
    print(
        f"deal history:    {t_hist:8.1f} s   (leak check: "
        f"{sorted(deals.left_out) or 'nothing left out'})  "
        f"peak RSS so far {peak_rss_mb():,.0f} MiB"
    )

    t0 = time.perf_counter()
    rows = feat.deal_training_rows(deals, every_days=settings.snapshot_every_days)
    t_rows = time.perf_counter() - t0
    print(
        f"as-of snapshots: {t_rows:8.1f} s   ({len(rows):,} training rows, all deals)  "
        f"peak RSS so far {peak_rss_mb():,.0f} MiB"
    )
    del rows

    steps: list[tuple[str, float]] = []

    def progress(step: str) -> None:
        steps.append((step, time.perf_counter()))

    t0 = time.perf_counter()
    result = train_deals(deals, settings=settings, seed=args.seed, progress=progress)
    t_train = time.perf_counter() - t0
    ends = [t for _, t in steps[1:]] + [t0 + t_train]
    for (step, start), end in zip(steps, ends, strict=True):
        print(f"  {step:<45} {end - start:8.1f} s")
    print(
        f"train_deals total: {t_train:8.1f} s  (train rows {result.rows['train_rows']:,}, "
        f"test rows {result.rows['test_rows']:,}, best iteration "
        f"{result.params['best_iteration']}, team models "
        f"{sum(1 for e in result.teams.values() if e.get('used'))}/{len(result.teams)})"
    )
    m = result.metrics
    print(
        "holdout AUC / Brier: "
        + ", ".join(f"{k} {v['roc_auc']:.3f}/{v['brier']:.3f}" for k, v in m.items())
    )
    print(f"peak RSS (whole process): {peak_rss_mb():,.0f} MiB")


if __name__ == "__main__":
    main()
