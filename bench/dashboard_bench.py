"""Server time of the full dashboard page (GET / for a signed-in viewer), in milliseconds.

    .venv/bin/python bench/dashboard_bench.py [--deals 100000] [--repeat 20] [--no-model]

Two stores: the shared CRM opportunity data (`../shared/data/crm_sales_opportunities`) and
`--deals` generated deals (`forecast.data.generator`, imported through the same CSV import). Each is
timed three ways, in-process through the ASGI app (no network):

- cold: the first view after start-up: reads the dataset, fits the forecast models as of the
  period start, replays past windows for the drift, scores the at-risk candidates;
- recomputed: every section computed again from the fitted models (the page cache emptied
  before each request): what a view with new filters costs;
- cached: the same view again within the cache's lifetime
  (`serving.dashboard.overviews.CACHE_SECONDS`).

The shared store also serves a deal model fitted in memory (unless --no-model), so the at-risk
list is scored by a model with reasons; the generated store uses the stage-win-rate fallback.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "crm_sales_opportunities"


def _store(name: str):  # noqa: ANN202 - (Settings, Engine)
    from forecast.data import store
    from forecast.settings import Settings

    settings = Settings(
        state_dir=Path(tempfile.mkdtemp(prefix=f"dash-bench-{name}-")), key_cache_seconds=5
    )
    return settings, store.get_engine(settings)


def _viewer_key(engine) -> str:  # noqa: ANN001
    from forecast import keys

    with engine.begin() as conn:
        return keys.create_key(conn, "viewer", "bench")[1]


def _serve_model(app, engine, dataset: str, settings) -> None:  # noqa: ANN001
    from forecast import scoring
    from forecast.history import load_deal_history
    from forecast.modeling.deal_fitting import train_deals
    from forecast.modeling.scorers import select_scorer

    result = train_deals(load_deal_history(engine, dataset), settings=settings, dataset=dataset)
    scorer = select_scorer(result.model)
    scorer.label = "model close-probability (fitted for the bench)"
    app.state.models.deal = scoring.Served(scoring.DEAL, scorer, "bench", "registry")


def _time(label: str, settings, engine, repeat: int, model_dataset: str | None) -> dict:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from serving.app import create_app

    key = _viewer_key(engine)
    app = create_app(settings)
    if model_dataset:
        _serve_model(app, engine, model_dataset, settings)
    with TestClient(app) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"api_key": key, "csrf_token": token}, follow_redirects=False)

        def one() -> float:
            started = time.perf_counter()
            response = client.get("/")
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.status_code
            assert 'class="unavailable"' not in response.text, "a section failed"
            return elapsed

        cold = one()
        recomputed = []
        for _ in range(max(3, repeat // 4)):
            app.state.overviews.clear()
            recomputed.append(one())
        cached = [one() for _ in range(repeat)]
        size = len(client.get("/").content)
    out = {
        "store": label,
        "cold_ms": cold,
        "recomputed_median_ms": statistics.median(recomputed),
        "cached_median_ms": statistics.median(cached),
        "page_kb": size / 1024,
        "runs": f"1 / {len(recomputed)} / {len(cached)}",
    }
    print(
        f"{label:<38} cold {cold:>9,.0f} ms   recomputed median "
        f"{out['recomputed_median_ms']:>8,.0f} ms   cached median "
        f"{out['cached_median_ms']:>6.1f} ms   page {out['page_kb']:.0f} KiB",
        flush=True,
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-model", action="store_true", help="No deal model on shared data")
    args = parser.parse_args()
    os.environ.setdefault("FORECAST_LOG_LEVEL", "WARNING")
    import logging

    logging.disable(logging.INFO)
    from forecast.data.generator import generate_pipeline, write_export
    from forecast.data.importing import import_export

    print(
        f"dashboard page server time (python {sys.version.split()[0]}, {os.cpu_count()} cores)",
        flush=True,
    )
    if SHARED.is_dir():
        settings, engine = _store("shared")
        import_export(engine, SHARED)
        _time(
            "shared CRM data (8,800 deals)",
            settings,
            engine,
            args.repeat,
            None if args.no_model else "crm_sales_opportunities",
        )
    else:
        print(f"shared data not found at {SHARED}: skipped", flush=True)

    settings, engine = _store("generated")
    folder = Path(tempfile.mkdtemp(prefix="dash-bench-export-"))
    started = time.perf_counter()
    write_export(generate_pipeline(args.deals, seed=7), folder)
    import_export(engine, folder, "canonical", dataset="generated")
    print(
        f"(generated and imported {args.deals:,} deals in {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    _time(f"generated ({args.deals:,} deals)", settings, engine, args.repeat, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
