"""Snapshot + KPIs on a large generated pipeline: seconds (median of runs) and peak memory.

    .venv/bin/python bench/kpi_bench.py --deals 1000000 [--runs 3]
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

    from forecast.generator import generate_pipeline
    from forecast.kpis import compute_kpis
    from forecast.snapshots import snapshot

    pipeline = generate_pipeline(args.deals, seed=11)
    opps, history, stages = pipeline.opportunities, pipeline.history, pipeline.stages
    print(f"{len(opps):,} deals, {len(history):,} stage entries; peak so far "
          f"{peak_rss_mb():,.0f} MB")
    as_of = pipeline.as_of - (pipeline.as_of - opps["created_at"].min()) / 2
    steps = {
        f"snapshot as of {as_of:%Y-%m-%d}": lambda: snapshot(opps, history, stages, as_of),
        "KPIs, overall": lambda: compute_kpis(opps, history, stages),
        "KPIs by rep": lambda: compute_kpis(opps, history, stages, by="rep"),
        "KPIs by team and quarter": lambda: compute_kpis(opps, history, stages, by="team",
                                                         period="quarter"),
        "KPIs as of mid-history (snapshot)": lambda: compute_kpis(opps, history, stages,
                                                                  as_of=as_of),
    }
    print(f"{'step':<38}{'median s':>10}{'runs':>6}")
    for name, step in steps.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        print(f"{name:<38}{statistics.median(times):>10.2f}{args.runs:>6}")
    print(f"peak memory of the process: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
