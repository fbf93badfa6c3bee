"""Past one machine (issue 14): in-process against a Dask cluster at scale, per step.

    .venv/bin/python bench/scale_bench.py [--deals 1000000,5000000] [--workers 2] [--seed 7]
    .venv/bin/python bench/scale_bench.py --deals 200000          # a smaller run

For each size, generated deals (`forecast.data.generator`) are written to Parquet (the deals and
their stage history, canonical columns) by a separate process; then every step in `MEASURES`
runs twice, each in a fresh process: in-process, and with `--cluster local` (a LocalCluster of
`--workers` worker processes, one thread each). Per run it prints the wall time, the peak
resident memory of the parent process (which also runs the scheduler of a LocalCluster) and of
each worker process (ru_maxrss, read on the workers through `client.run` before the cluster
closes), and rows per second, then the in-process / cluster ratios beside the goals.

Steps are functions `measure_<step>(folder, cluster) -> dict` listed in `MEASURES`; each reads
the Parquet folder itself and returns seconds, rows and worker peaks. Training
(`measure_training`) reads the Parquet into a `DealHistory` and runs
`deal_fitting.train_deals` on the engine (not the MLflow registration); its rows are the
training and holdout snapshot rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEALS_FILE = "opportunities.parquet"
GOALS = (
    "no process over 4 GB (4096 MiB) at 5M deals",
    "in-process training at 1M deals under 3 GB (3072 MiB)",
)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- data ---------------------------------------------------------------------------------------


def write_parquet(n: int, seed: int, folder: Path) -> dict[str, Any]:
    """`n` generated deals and their stage history as Parquet files in `folder`."""
    from forecast.data.generator import generate_pipeline
    from forecast.parquet_export import write_export

    started = time.perf_counter()
    data = generate_pipeline(n, seed=seed)
    write_export(data.opportunities, data.history, folder)
    return {"deals": n, "seconds": time.perf_counter() - started, "peak_mb": peak_rss_mb()}


# --- steps (each in its own process) ------------------------------------------------------------


def _worker_peaks(client: Any) -> dict[str, float]:
    """Each worker process's peak resident memory in MiB, by worker address."""
    if client is None:
        return {}
    return {str(k): float(v) for k, v in client.run(peak_rss_mb).items()}


def _read(folder: Path, client: Any) -> tuple[Any, Any, float]:
    """The Parquet export as a command reads it: whole in process, or by partition on the
    cluster (its summary here, the `PartitionedExport` as the source); and the seconds taken."""
    from forecast import parquet_export

    started = time.perf_counter()
    if client is None:
        return parquet_export.read_whole(folder), None, time.perf_counter() - started
    source = parquet_export.read_partitioned(client, folder)
    return source.summary, source, time.perf_counter() - started


def measure_training(folder: Path, cluster: str | None) -> dict[str, Any]:
    """Read the Parquet export (whole in process; by partition on the cluster, as `forecast
    train deals --data FOLDER --cluster` does), then train the close-probability model."""
    from forecast.cluster import dask_client, resolve
    from forecast.modeling.deal_fitting import train_deals
    from forecast.settings import get_settings

    with dask_client(cluster) as client:
        history, source, read_s = _read(folder, client)
        engine = None
        if source is not None:
            from forecast.modeling.dask_training import DaskEngine

            engine = DaskEngine(client, str(resolve(cluster)), source=source)
        t0 = time.perf_counter()
        result = train_deals(history, settings=get_settings(), engine=engine)
        train_s = time.perf_counter() - t0
        workers = _worker_peaks(client)
    rows = int(result.rows["train_rows"] + result.rows["test_rows"])
    return {
        "read_seconds": read_s,
        "seconds": train_s,
        "rows": rows,
        "rows_per_second": rows / train_s,
        "worker_peak_mb": workers,
        "auc": result.families.get("lightgbm", {}).get("roc_auc"),
        "family": result.family,
    }


def measure_backtest(folder: Path, cluster: str | None) -> dict[str, Any]:
    """Read the Parquet export (whole in process; by partition on the cluster, as `forecast
    backtest --data FOLDER --cluster` does: each worker then reads it whole itself), then
    backtest the last `BACKTEST_PERIODS` complete quarters at the period start (one fit each,
    the origins in parallel on the cluster)."""
    import pandas as pd

    from forecast.cluster import dask_client
    from forecast.forecasting.backtest import backtest, export_date_of
    from forecast.periods import period_of

    with dask_client(cluster) as client:
        history, source, read_s = _read(folder, client)
        last = period_of(export_date_of(history, source) + pd.Timedelta(days=1), "quarter")
        first = last
        for _ in range(BACKTEST_PERIODS):
            first = period_of(first.start - pd.Timedelta(days=1), "quarter")
        t0 = time.perf_counter()
        report = backtest(history, freq="quarter", start=first.start, client=client, source=source)
        seconds = time.perf_counter() - t0
        workers = _worker_peaks(client)
    scored = [p for p in report.periods if p.status == "ok"]
    return {
        "read_seconds": read_s,
        "seconds": seconds,
        "rows": len(history.deals),
        "rows_per_second": len(history.deals) / seconds,
        "worker_peak_mb": workers,
        "forecasts": len(scored),
        "wape": report.overall().get("model", {}).get("wape"),
    }


#: Complete quarters the backtest step forecasts (one fit each).
BACKTEST_PERIODS = 2

#: The steps measured, by name; a step is `(folder, cluster) -> dict` with at least `seconds`,
#: `rows`, `rows_per_second` and `worker_peak_mb`.
MEASURES: dict[str, Callable[[Path, str | None], dict[str, Any]]] = {
    "training": measure_training,
    "backtest": measure_backtest,
}


# --- driver -------------------------------------------------------------------------------------


def _child(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run this script with `args` in a fresh process; its last stdout line is its JSON."""
    out = subprocess.run(
        [sys.executable, __file__, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mb(value: float) -> str:
    return f"{value:,.0f}"


def _print_table(n: int, results: dict[tuple[str, str], dict[str, Any]]) -> None:
    print(f"\n{n:,} deals")
    head = (
        f"{'step':<10} {'engine':<11} {'read s':>7} {'wall s':>8} {'rows':>11} {'rows/s':>9} "
        f"{'parent MiB':>11} {'workers MiB':>20} {'max MiB':>8} {'LightGBM AUC':>13}"
    )
    print(head)
    print("-" * len(head))
    for (step, engine), r in results.items():
        workers = sorted(r["worker_peak_mb"].values())
        top = max([r["parent_peak_mb"], *workers])
        print(
            f"{step:<10} {engine:<11} {r.get('read_seconds', 0.0):>7.1f} "
            f"{r['seconds']:>8.1f} {r['rows']:>11,} "
            f"{r['rows_per_second']:>9,.0f} {_mb(r['parent_peak_mb']):>11} "
            f"{' / '.join(_mb(w) for w in workers) or '-':>20} {_mb(top):>8} "
            f"{r.get('auc') or float('nan'):>13.4f}"
        )
    for step in dict.fromkeys(s for s, _ in results):
        here, there = results.get((step, "in-process")), results.get((step, "cluster"))
        if here and there:
            top_there = max([there["parent_peak_mb"], *there["worker_peak_mb"].values()])
            print(
                f"{step}: in-process / cluster wall time {here['seconds'] / there['seconds']:.2f}×,"
                f" largest process {here['parent_peak_mb'] / top_there:.2f}×"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", default="1000000,5000000", help="Sizes, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--steps", default=",".join(MEASURES), help="Steps, comma-separated")
    parser.add_argument("--engines", default="in-process,cluster")
    parser.add_argument("--folder", type=Path, default=None, help="Where the Parquet goes")
    parser.add_argument("--worker", nargs=3, metavar=("STEP", "FOLDER", "CLUSTER"))
    parser.add_argument("--write", nargs=3, metavar=("DEALS", "SEED", "FOLDER"))
    args = parser.parse_args()

    if args.write:  # a child: write one size's Parquet
        n, seed, folder = int(args.write[0]), int(args.write[1]), Path(args.write[2])
        print(json.dumps(write_parquet(n, seed, folder)))
        return
    if args.worker:  # a child: one step on one engine
        step, folder, cluster = args.worker
        out = MEASURES[step](Path(folder), None if cluster == "none" else cluster)
        out["parent_peak_mb"] = peak_rss_mb()
        print(json.dumps(out))
        return

    state = tempfile.mkdtemp(prefix="scale-bench-state-")
    env = {"FORECAST_STATE_DIR": state, "FORECAST_DASK_LOCAL_WORKERS": str(args.workers)}
    root = args.folder or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    print(
        f"cores {os.cpu_count()}, LocalCluster workers {args.workers} (1 thread each), "
        f"python {sys.version.split()[0]}; goals: {'; '.join(GOALS)}"
    )
    for n in (int(x) for x in args.deals.split(",")):
        folder = root / f"deals_{n}"
        if not (folder / DEALS_FILE).exists():
            wrote = _child("--write", str(n), str(args.seed), str(folder), env=env)
            print(
                f"{n:,} deals written to {folder} in {wrote['seconds']:.1f} s "
                f"(writer's peak {_mb(wrote['peak_mb'])} MiB)"
            )
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for step in args.steps.split(","):
            for engine in args.engines.split(","):
                cluster = "local" if engine == "cluster" else "none"
                results[(step, engine)] = _child("--worker", step, str(folder), cluster, env=env)
                print(f"  {step} {engine}: {json.dumps(results[(step, engine)])}", flush=True)
        _print_table(n, results)


if __name__ == "__main__":
    main()
