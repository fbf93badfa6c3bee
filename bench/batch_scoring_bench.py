"""Batch scoring throughput (`forecast score`'s library path): rows/s in process against a
`LocalCluster`, for open deals and for leads, with and without reasons.

    .venv/bin/python bench/batch_scoring_bench.py [--deals 200000] [--leads 200000]
        [--workers 2] [--partition-rows 25000] [--reasons 3]

Deals: `--deals` generated deals; the rows are the deals open at the data's now, as the command
builds them (the time to build them is printed apart). Leads: `--leads` generated leads, every
one scored. Each is scored by a LightGBM model fitted here on a small sample (no registry), into
a Parquet file as `forecast score` writes it, once in process and once on a `LocalCluster` of
`--workers` worker processes (one thread each; started and warmed up on 50 rows before the clock
runs, its start-up time printed apart). The two outputs are compared row for row. Prints rows/s
and the ratio, and the machine's load average (other processes share its cores), with the CPU
seconds of the in-process run and of the busiest worker: on a machine whose cores are taken by
others the wall-clock ratio understates what the workers would do on cores of their own.

`--backtest-deals N` (default 0: none) also times `forecast backtest`'s library path on N
generated deals, weekly monthly windows from `--backtest-from` at horizons 0 and 4 weeks, in
process and on the same cluster, and checks that the two forecast tables are equal.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _deal_model(seed: int) -> Any:
    from forecast import features as feat
    from forecast.data.generator import generate_pipeline
    from forecast.history import DealHistory
    from forecast.modeling.estimators import BoostedClassifier

    g = generate_pipeline(3000, seed=seed)
    history = DealHistory.from_frames(g.opportunities, g.history, g.stages)
    rows = feat.deal_training_rows(history)
    model = BoostedClassifier(n_estimators=200, n_jobs=1, random_state=0)
    return model.fit(feat.deal_features(rows, history.left_out), rows["won"], rows["weight"])


def _lead_model(seed: int) -> Any:
    from forecast import features as feat
    from forecast.data.generator import generate_leads
    from forecast.modeling.estimators import BoostedClassifier

    leads = generate_leads(20_000, seed=seed)
    frame, _ = feat.prepare_leads(leads, ["Tags"])
    model = BoostedClassifier(n_estimators=200, n_jobs=1, random_state=0)
    return model.fit(frame, feat.lead_labels(leads))


def _served(kind: str, model: Any) -> Any:
    from forecast import scoring
    from forecast.batch_scoring import BatchScorer
    from forecast.modeling.scorers import select_scorer

    scorer = select_scorer(model)
    scorer.label = f"bench {kind} model"
    return BatchScorer(scoring.Served(kind, scorer, "bench", "registry"))


def _cpu() -> float:
    return time.process_time()


def _busiest(client: Any, before: dict[str, float]) -> float:
    """CPU seconds of the busiest worker since `before`: the cluster's critical path when
    every worker has a core of its own."""
    after = client.run(_cpu)
    return max(after[w] - before.get(w, 0.0) for w in after)


def _run(rows: Any, scorer: Any, out: Path, top: int, parts: int, client: Any) -> float:
    from forecast.batch_output import run_batch

    summary = run_batch(rows, scorer, out, top=top, partition_rows=parts, client=client)
    return summary.rows / summary.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-rows", type=int, default=25_000)
    parser.add_argument("--reasons", type=int, default=3)
    parser.add_argument("--backtest-deals", type=int, default=0)
    parser.add_argument("--backtest-from", default="2024-09-01")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))

    import pandas as pd
    from distributed import Client, LocalCluster

    from forecast.batch_output import read_parquet
    from forecast.batch_scoring import lead_rows, open_deal_rows
    from forecast.data.generator import generate_leads, generate_pipeline
    from forecast.history import DealHistory

    batches = []
    if args.deals:
        t = time.perf_counter()
        g = generate_pipeline(args.deals, seed=7)
        history = DealHistory.from_frames(g.opportunities, g.history, g.stages, name="bench")
        built = time.perf_counter()
        rows = open_deal_rows(history, "bench")
        print(
            f"deals: {args.deals:,} generated + history in {built - t:.1f} s; "
            f"{len(rows.frame):,} open at {rows.as_of.date()}, rows built in "
            f"{time.perf_counter() - built:.1f} s",
            flush=True,
        )
        batches.append(("deals", rows, _served("deals", _deal_model(8))))
    if args.leads:
        rows = lead_rows(generate_leads(args.leads, seed=9), "bench_leads")
        print(f"leads: {len(rows.frame):,} generated", flush=True)
        batches.append(("leads", rows, _served("leads", _lead_model(10))))

    t = time.perf_counter()
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        Client(local) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        print(f"LocalCluster of {args.workers} workers started in {time.perf_counter() - t:.1f} s")
        print(
            f"{'rows':<7}{'reasons':>8}{'n':>10}{'in process':>14}{'cluster':>14}{'ratio':>8}"
            f"{'cpu in process':>16}{'cpu busiest worker':>20}"
        )
        for _, rows, scorer in batches:  # warm-up: workers import the library once
            warm = type(rows)(rows.kind, rows.dataset, rows.frame.head(50), rows.as_of)
            _run(warm, scorer, Path(tmp) / "warm.parquet", 0, args.partition_rows, client)
        for kind, rows, scorer in batches:
            for top in sorted({args.reasons, 0}, reverse=True):
                here, there = Path(tmp) / "here.parquet", Path(tmp) / "there.parquet"
                cpu = time.process_time()
                local_rate = _run(rows, scorer, here, top, args.partition_rows, None)
                cpu = time.process_time() - cpu
                before = client.run(_cpu)
                cluster_rate = _run(rows, scorer, there, top, args.partition_rows, client)
                busiest = _busiest(client, before)
                pd.testing.assert_frame_equal(read_parquet(here), read_parquet(there))
                print(
                    f"{kind:<7}{top:>8}{len(rows.frame):>10,}{local_rate:>10,.0f} r/s"
                    f"{cluster_rate:>10,.0f} r/s{cluster_rate / local_rate:>7.2f}x"
                    f"{cpu:>14.1f} s{busiest:>18.1f} s",
                    flush=True,
                )
        if args.backtest_deals:
            _backtest(args.backtest_deals, args.backtest_from, client)
    print("(the same rows in process and on the cluster: compared row for row)")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


def _backtest(n: int, start: str, client: Any) -> None:
    import pandas as pd

    from forecast.data.generator import generate_pipeline
    from forecast.forecasting.backtest import backtest
    from forecast.history import DealHistory

    g = generate_pipeline(n, seed=5)
    options: dict[str, Any] = {
        "freq": "month",
        "every": "week",
        "horizons": (0, 4),
        "sealed": 0,
        "start": start,
    }
    seconds, cpus, tables = [], [], []
    for c in (None, client):
        history = DealHistory.from_frames(g.opportunities, g.history, g.stages, name="bench")
        before = client.run(_cpu) if c is not None else {}
        cpu = time.process_time()
        t = time.perf_counter()
        report = backtest(history, client=c, **options)
        seconds.append(time.perf_counter() - t)
        cpus.append(time.process_time() - cpu if c is None else _busiest(client, before))
        tables.append(report.forecast_table())
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
    origins = tables[0]["origin"].nunique()
    print(
        f"backtest of {n:,} deals ({origins} origins, {report.origins_fitted} fits): in process "
        f"{seconds[0]:.1f} s (cpu {cpus[0]:.1f} s), cluster {seconds[1]:.1f} s (busiest worker "
        f"cpu {cpus[1]:.1f} s), {seconds[0] / seconds[1]:.2f}x (the same forecast table)"
    )


if __name__ == "__main__":
    main()
