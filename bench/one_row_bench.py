"""Scoring in process, on one core: one row with reasons (a batch of one, as the API scores it),
the lead model's probability alone, and 10,000 leads with three reasons each and without, as
mappings and as a file's columns.
Median over repeats; no server, no registry.

    .venv/bin/python bench/one_row_bench.py [--leads 5000 | --data LEADS.csv] [--calls 2000]
        [--repeats 7] [--cpu 1] [--clock wall|cpu] [--no-compile]

Goals (issue 14): one row with reasons under 50 µs; 10,000 leads under 100 ms with three reasons
each and under 30 ms without, on one core: timed on rows as the API gets them (mappings) and as
`forecast score` reads a file (`batch_scoring.records`: rows held as their columns). The whole
of a `forecast score` partition (`batch_scoring.score_part`: the frame read, scored, and made a
table with the reasons as JSON text) is timed too, without a goal. The process pins itself to
one CPU before numpy and LightGBM start their thread pools, so LightGBM's "all cores" is that
one. The model's trees are compiled first (`compile_trees`, as a served model's are after its
first big batch), and the time that takes is printed; `--no-compile` times LightGBM's own leaf
lookup in the batches.
`--clock cpu` times by this thread's CPU time, steadier than wall time on a machine whose
cores others take (as `bench/request_overhead_bench.py --clock cpu`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def per_call_us(
    call: Callable[[], object], calls: int, repeats: int, clock: Callable[[], float]
) -> list[float]:
    """Mean µs per call by `clock`, once per repeat (after one warm-up call)."""
    call()
    out = []
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            call()
        out.append((clock() - start) / calls * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=5000, help="Generated leads to fit on")
    parser.add_argument(
        "--data", help="A lead export to fit on instead (e.g. ../shared/data/.../Leads.csv)"
    )
    parser.add_argument("--calls", type=int, default=2000, help="Calls timed per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cpu", type=int, default=1, help="The one CPU to run on")
    parser.add_argument("--no-compile", action="store_true", help="Leave the trees uncompiled")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})  # before numpy and LightGBM size their thread pools

    import pandas as pd

    from forecast import features, scoring
    from forecast.batch_scoring import records, score_part
    from forecast.data.generator import generate_leads
    from forecast.modeling.contributions import compile_trees, path_contributions
    from forecast.modeling.estimators import BoostedClassifier
    from forecast.modeling.scorers import select_scorer

    if args.data:  # a real lead file, read as `forecast train leads --data` reads it
        from forecast.settings import get_settings
        from training.models_cli import Kind
        from training.training_data import load_training_data

        loaded = load_training_data(args.data, None, Kind.leads, get_settings())
        leads, leaks, source = loaded["leads"], loaded["leak_columns"], args.data
    else:
        leads, leaks, source = generate_leads(args.leads, seed=1), ["Tags"], "generated leads"
    X, _ = features.prepare_leads(leads, leaks)
    model = BoostedClassifier(random_state=1).fit(X, features.lead_labels(leads))
    served = scoring.Served(scoring.LEAD, select_scorer(model), "bench", "registry")
    rows = X.astype(object).where(X.notna(), None).to_dict("records")
    row = rows[0]
    batch = (rows * (10_000 // len(rows) + 1))[:10_000]
    # The same 10,000 as `forecast score` reads them from a file: rows that keep their columns.
    part = pd.concat([X] * (10_000 // len(X) + 1)).iloc[:10_000].reset_index(drop=True)
    in_columns = records(part)
    part.insert(0, "id", range(len(part)))  # a `forecast score` partition: id + inputs
    matrix = scoring.encode(served, batch).matrix  # the floor: LightGBM's traversal alone
    compiled = "not compiled"
    if not args.no_compile:
        started = time.perf_counter()
        compiled = (
            f"trees compiled in {time.perf_counter() - started:.1f} s"
            if compile_trees(model)
            else "trees could not be compiled"
        )

    steps = {
        "one row, probability only (score_row)": (
            lambda: model.score_row(row),
            args.calls,
            None,
        ),
        "one row with 3 reasons (score, batch of 1)": (
            lambda: scoring.score(served, [row]),
            args.calls,
            50.0,
        ),
        "10,000 leads with 3 reasons": (lambda: scoring.score(served, batch), 1, 100_000.0),
        "10,000 leads without reasons": (
            lambda: scoring.score(served, batch, top=0),
            1,
            30_000.0,
        ),
        "10,000 leads from a file (columns), 3 reasons": (
            lambda: scoring.score(served, in_columns, strict_dates=False),
            1,
            100_000.0,
        ),
        "10,000 leads from a file (columns), no reasons": (
            lambda: scoring.score(served, in_columns, top=0, strict_dates=False),
            1,
            30_000.0,
        ),
        "10,000 leads to a scores table, 3 reasons": (
            lambda: score_part(part, served, 3),
            1,
            None,
        ),
        "10,000 leads to a scores table, no reasons": (
            lambda: score_part(part, served, 0),
            1,
            None,
        ),
        "  LightGBM's own leaf lookup of the 10,000": (
            lambda: model.booster_.predict(matrix, pred_leaf=True),
            1,
            None,
        ),
    }
    if not args.no_compile:
        steps["  the compiled trees' leaf lookup (with reasons)"] = (
            lambda: path_contributions(model).leaves(model.booster_, matrix),
            1,
            None,
        )
        made = path_contributions(model).compile(model.booster_)
        if made is not None and made.has_raw:
            steps["  the compiled model's raw scores (without)"] = (
                lambda: made.raw(matrix),
                1,
                None,
            )
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    print(
        f"lead model: {model.booster_.num_trees()} trees, {X.shape[1]} inputs, fitted on "
        f"{len(X):,} leads ({source}); {compiled}; CPU {args.cpu} only; {args.repeats} repeats; "
        f"{args.clock} clock; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'in process':<46}{'median':>12}{'min':>12}{'max':>12}   goal")
    for name, (call, calls, goal_us) in steps.items():
        times = per_call_us(call, calls, args.repeats, clock)
        med = statistics.median(times)
        unit, scale = ("µs", 1.0) if calls > 1 else ("ms", 1e-3)
        goal = "" if goal_us is None else f"< {goal_us * scale:,.0f} {unit}: "
        verdict = "" if goal_us is None else ("met" if med < goal_us else "NOT met")
        print(
            f"{name:<46}{med * scale:>9,.1f} {unit}{min(times) * scale:>9,.1f} {unit}"
            f"{max(times) * scale:>9,.1f} {unit}   {goal}{verdict}"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
