"""One row, in process: the lead model's probability alone, and a full score with reasons as the
API computes it. Median over repeats of the mean time per call; no server, no registry.

    .venv/bin/python bench/one_row_bench.py [--leads 5000] [--calls 500] [--repeats 7]

These figures used to be asserted in unit tests (< 2 ms per `score_row`, < 5 ms per one-row
explanation); a test asserts behaviour, this script says how fast it is on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def per_call_us(call: Callable[[], object], calls: int, repeats: int) -> list[float]:
    """Mean µs per call, once per repeat (after one warm-up call)."""
    call()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        out.append((time.perf_counter() - start) / calls * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=5000, help="Generated leads to fit on")
    parser.add_argument("--calls", type=int, default=500, help="Calls timed per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from forecast import features, scoring
    from forecast.data.generator import generate_leads
    from forecast.modeling.estimators import BoostedClassifier
    from forecast.modeling.scorers import select_scorer

    leads = generate_leads(args.leads, seed=1)
    X, _ = features.prepare_leads(leads, ["Tags"])
    model = BoostedClassifier(random_state=1).fit(X, features.lead_labels(leads))
    served = scoring.Served(scoring.LEAD, select_scorer(model), "bench", "registry")
    row = X.iloc[0].to_dict()

    steps = {
        "probability only (BoostedClassifier.score_row)": (
            lambda: model.score_row(row),
            "goal < 2,000 µs",
        ),
        "with reasons (scoring.score, a batch of one)": (
            lambda: scoring.score(served, [row]),
            "goal < 5,000 µs",
        ),
    }
    print(
        f"lead model: {model.booster_.num_trees()} trees, {X.shape[1]} inputs, fitted on "
        f"{len(X):,} generated leads; {args.calls} calls × {args.repeats} repeats"
    )
    print(f"{'one row':<50}{'median µs':>10}{'min':>8}{'max':>8}")
    for name, (call, goal) in steps.items():
        times = per_call_us(call, args.calls, args.repeats)
        print(
            f"{name:<50}{statistics.median(times):>10,.0f}{min(times):>8,.0f}"
            f"{max(times):>8,.0f}   ({goal})"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
