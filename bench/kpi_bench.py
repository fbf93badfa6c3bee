"""Snapshot + KPIs on a large generated pipeline: seconds (median of runs) and peak memory.

.venv/bin/python bench/kpi_bench.py --deals 1000000 [--runs 3]
.venv/bin/python bench/kpi_bench.py --deals 200000   # the size the KPI unit test uses
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from forecast.data.generator import generate_pipeline
    from forecast.history import DealHistory
    from forecast.kpis import compute_kpis

    pipeline = generate_pipeline(args.deals, seed=11)
    opps, log, stages = pipeline.opportunities, pipeline.history, pipeline.stages
    print(f"{len(opps):,} deals, {len(log):,} stage entries; peak so far {peak_rss_mb():,.0f} MB")
    history = DealHistory.from_frames(opps, log, stages)
    as_of = pipeline.as_of - (pipeline.as_of - opps["created_at"].min()) / 2
    steps = {
        "history from frames": lambda: DealHistory.from_frames(
            opps, log, stages, check_leaks=False
        ),
        "history from frames + export leak check": lambda: DealHistory.from_frames(
            opps, log, stages
        ),
        f"snapshot as of {as_of:%Y-%m-%d}": lambda: history.as_of(as_of),
        "KPIs, overall": lambda: compute_kpis(history),
        "KPIs by rep": lambda: compute_kpis(history, by="rep"),
        # Was a unit-test limit (< 10 s for 200k deals): run with --deals 200000 to compare.
        "KPIs by rep and month, as JSON data": lambda: compute_kpis(
            history, by="rep", period="month"
        ).to_dict(),
        "KPIs by team and quarter": lambda: compute_kpis(history, by="team", period="quarter"),
        "KPIs as of mid-history (snapshot)": lambda: compute_kpis(history, as_of=as_of),
    }
    print(f"{'step':<42}{'median s':>10}{'runs':>6}")
    for name, step in steps.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        print(f"{name:<42}{statistics.median(times):>10.2f}{args.runs:>6}")
    print(f"peak memory of the process: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
