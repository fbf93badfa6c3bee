"""Import throughput: `forecast import` (validating, idempotent upsert, stage history) against
plain `pandas.read_csv` + `DataFrame.to_sql` of the same files, into SQLite and PostgreSQL.

    .venv/bin/python bench/import_bench.py --deals 1000000 [--targets sqlite,postgresql]

Each load runs in its own process, so the peak memory printed is that load's own.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_pg_database, peak_rss_mb, run_worker  # noqa: E402


def ours(folder: str, url: str) -> dict:
    from forecast.data import store
    from forecast.data.importing import import_export

    engine = store.make_engine(url)
    store.migrate(engine)
    start = time.perf_counter()
    report = import_export(engine, folder, "canonical", dataset="bench")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "deals": report.rows_written,
        "history": report.history_rows_written,
        "peak_mb": peak_rss_mb(),
    }


def peer(folder: str, url: str) -> dict:
    """What a user would write by hand: read each CSV whole and append it with to_sql."""
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(url)
    start = time.perf_counter()
    deals = pd.read_csv(Path(folder) / "opportunities.csv")
    deals.to_sql("opportunities", engine, if_exists="append", index=False, chunksize=50_000)
    history = pd.read_csv(Path(folder) / "stage_history.csv")
    history.to_sql("stage_history", engine, if_exists="append", index=False, chunksize=50_000)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "deals": len(deals),
        "history": len(history),
        "peak_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--targets", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", nargs=3, metavar=("WHICH", "FOLDER", "URL"))
    args = parser.parse_args()
    if args.worker:
        which, folder, url = args.worker
        if which == "generate":
            from forecast.data.generator import generate_pipeline, write_export

            write_export(generate_pipeline(int(url), seed=args.seed), folder)
            print(json.dumps({}))
            return
        print(json.dumps((ours if which == "ours" else peer)(folder, url)))
        return

    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        folder = Path(tmp) / "export"
        folder.mkdir()
        started = time.perf_counter()
        # In a worker too: a child's peak memory counts its parent's at fork on Linux.
        run_worker(Path(__file__), "generate", str(folder), str(args.deals))
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        print(
            f"generated {args.deals:,} deals ({size:,.0f} MB of CSV) in "
            f"{time.perf_counter() - started:,.1f} s"
        )
        print(
            f"{'target':<11}{'loader':<22}{'seconds':>9}{'deals/s':>11}{'rows/s':>11}{'peak MB':>9}"
        )
        for target in args.targets.split(","):
            results = {}
            for which in ("ours", "peer"):
                if target == "sqlite":
                    url, drop = f"sqlite:///{Path(tmp) / f'{which}.db'}", None
                else:
                    made = fresh_pg_database()
                    if made is None:
                        print(f"{target:<11}skipped: no PostgreSQL at 127.0.0.1:5432")
                        break
                    url, drop = made
                try:
                    r = run_worker(Path(__file__), which, str(folder), url)
                finally:
                    if drop:
                        drop()
                results[which] = r
                rows = r["deals"] + r["history"]
                label = "forecast import" if which == "ours" else "pandas read_csv+to_sql"
                print(
                    f"{target:<11}{label:<22}{r['seconds']:>9.1f}"
                    f"{r['deals'] / r['seconds']:>11,.0f}{rows / r['seconds']:>11,.0f}"
                    f"{r['peak_mb']:>9,.0f}"
                )
            if len(results) == 2:
                ratio = results["peer"]["seconds"] / results["ours"]["seconds"]
                print(
                    f"{target:<11}speed ratio ours/peer: {ratio:.2f}x "
                    f"(peer does no validation, no upsert, no history checks)"
                )


if __name__ == "__main__":
    main()
