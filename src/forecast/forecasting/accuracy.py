"""How a set of forecasts is scored against what was won: WAPE, bias, pinball loss, P10–P90
coverage with its Wilson interval, and how often ours beat the best naive forecast.

A scored forecast is a plain dict (`score_lines`): the actual, each method's point forecast
under its name, and the P10/P50/P90 of ours (`p10`…), of the chosen method (`chosen_p10`…) and of
ours with its empirical range (`empirical_p10`…) where they exist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from forecast.forecasting import choice, naive

#: The forecasts a backtest scores, and how each is labelled.
METHODS = {
    "model": "our forecast",
    choice.RECALIBRATED: choice.LABELS[choice.RECALIBRATED],
    "weighted_pipeline": "weighted pipeline",
    "stage_km": "per-stage close-time baseline",
    **naive.NAIVE,
    choice.CHOSEN: choice.CHOSEN_LABEL,
}
#: The naive forecasts ours must beat: the best of them at each origin is the bar.
NAIVE_SET = ("run_rate", "last_period", "last_year", "weighted_pipeline")
WILSON_Z = 1.959963984540054  # 95%


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default): honest for small counts,
    where 2 of 3 is anything from 21% to 94%."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def pinball_loss(actual: np.ndarray, quantile: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of forecasts of the q-quantile."""
    diff = np.asarray(actual, dtype=float) - np.asarray(quantile, dtype=float)
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def share(hits: Iterable[bool]) -> dict[str, Any]:
    flags = list(hits)
    n, k = len(flags), int(sum(flags))
    lo, hi = wilson_interval(k, n)
    return {"n": n, "hits": k, "share": k / n if n else math.nan, "wilson_95": [lo, hi]}


def point_scores(actual: np.ndarray, forecast: np.ndarray) -> dict[str, Any]:
    err = forecast - actual
    total = actual.sum()
    return {
        "n": len(actual),
        "wape": float(np.abs(err).sum() / total) if total else math.nan,
        "bias": float(err.sum() / total) if total else math.nan,
        "mean_abs_error": float(np.abs(err).mean()),
        "pinball_p50": float(np.mean(np.abs(err)) / 2),
    }


def score_lines(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Scores of a set of forecasts, each a dict with actual, the methods' forecasts and our
    p10/p50/p90: per method WAPE, bias, pinball; our coverage; how often ours beat the best
    naive forecast."""
    out: dict[str, Any] = {"forecasts": len(lines), "methods": {}}
    for name in METHODS:
        have = [ln for ln in lines if ln.get(name) is not None]
        if not have:
            continue
        actual = np.array([ln["actual"] for ln in have], dtype=float)
        scores = point_scores(actual, np.array([ln[name] for ln in have], dtype=float))
        prefix = {"model": "", choice.CHOSEN: "chosen_"}.get(name)
        if prefix is not None and all(f"{prefix}p10" in ln for ln in have):
            for q, key in ((0.1, "p10"), (0.5, "p50"), (0.9, "p90")):
                scores[f"pinball_{key}"] = pinball_loss(
                    actual, np.array([ln[prefix + key] for ln in have], dtype=float), q
                )
        out["methods"][name] = scores
    ours = [ln for ln in lines if ln.get("model") is not None]
    out["coverage_p10_p90"] = share(ln["p10"] <= ln["actual"] <= ln["p90"] for ln in ours)
    recalibrated = [ln for ln in ours if ln.get("empirical_p10") is not None]
    if recalibrated:
        # Ours with the range its own past errors give (where enough windows had ended).
        out["coverage_p10_p90_empirical"] = share(
            ln["empirical_p10"] <= ln["actual"] <= ln["empirical_p90"] for ln in recalibrated
        )
    chosen = [ln for ln in lines if ln.get(choice.CHOSEN) is not None]
    if chosen:
        out["coverage_p10_p90_chosen"] = share(
            ln["chosen_p10"] <= ln["actual"] <= ln["chosen_p90"] for ln in chosen
        )
        counts: dict[str, int] = {}
        for ln in chosen:
            counts[ln["chosen_method"]] = counts.get(ln["chosen_method"], 0) + 1
        out["chosen_methods"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    wins = []
    for ln in ours:
        naive_errors = [abs(ln[m] - ln["actual"]) for m in NAIVE_SET if ln.get(m) is not None]
        if naive_errors:
            wins.append(abs(ln["model"] - ln["actual"]) < min(naive_errors))
    out["beats_best_naive"] = share(wins)
    if chosen:
        won = []
        for ln in chosen:
            naive_errors = [abs(ln[m] - ln["actual"]) for m in NAIVE_SET if ln.get(m) is not None]
            if naive_errors:
                won.append(abs(ln[choice.CHOSEN] - ln["actual"]) <= min(naive_errors))
        out["chosen_at_least_as_good_as_best_naive"] = share(won)
    return out
