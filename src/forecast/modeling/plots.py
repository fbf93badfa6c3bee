"""The plots a training run is logged with, drawn from its holdout results as PNG files.

- leads and deals (`fitting.TrainingResult`): calibration, gain and lift, feature importance;
- timing (`timing.TimingResult`): share won within 30/60/90 days, predicted vs observed, and
  calibration of P(won within the longest horizon).

Matplotlib draws off-screen (Agg) and is imported only when a plot is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from forecast.modeling import metrics as m
from forecast.modeling.families import LIGHTGBM, family_of

if TYPE_CHECKING:
    from forecast.modeling.fitting import TrainingResult
    from forecast.timing import TimingResult


def run_plots(result: TrainingResult | TimingResult, folder: Path) -> list[Path]:
    """Draw the plots of a training run of any kind into `folder`; returns their paths."""
    if result.kind == "timing":  # only a TimingResult has this kind
        return [timing_plot(cast("TimingResult", result), folder)]
    return scorer_plots(cast("TrainingResult", result), folder)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def scorer_plots(result: TrainingResult, folder: Path) -> list[Path]:
    """Calibration, gain/lift (model and baselines on the holdout) and feature importance."""

    plt = _pyplot()
    paths: list[Path] = []
    y, w = result.y_test, result.w_test
    if y is None:
        return paths
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    for name, p in result.predictions.items():
        table = m.calibration_table(y, p, w)
        ax.plot(table["predicted"], table["observed"], marker="o", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed rate", title="Calibration (holdout)")
    ax.legend(fontsize=8)
    paths.append(_save(fig, folder / "calibration.png"))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax1.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="random")
    for name, p in result.predictions.items():
        g = m.gain_curve(y, p, w)
        ax1.plot(np.r_[0, g["fraction"]], np.r_[0, g["gain"]], label=name)
        ax2.plot(g["fraction"], g["lift"], label=name)
    ax1.set(xlabel="share of rows, best scored first", ylabel="share of positives", title="Gain")
    ax2.axhline(1, ls="--", c="grey", lw=1)
    ax2.set(xlabel="share of rows, best scored first", ylabel="lift", title="Lift")
    ax1.legend(fontsize=8)
    paths.append(_save(fig, folder / "gain_lift.png"))

    imp = result.model.importance().head(20)[::-1]
    labels = getattr(result.model, "field_labels_", {}) or {}
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(imp) + 1.5))
    ax.barh([labels.get(c, c) for c in imp.index], imp.to_numpy())
    family = family_of(result.model)
    ax.set(
        xlabel="total gain" if family == LIGHTGBM else "mean |log-odds contribution|",
        title=f"Feature importance ({family.replace('_', ' ')})",
    )
    paths.append(_save(fig, folder / "feature_importance.png"))
    return paths


def timing_plot(result: TimingResult, folder: Path) -> Path:
    """Won within each horizon, predicted vs observed, beside the calibration at the longest."""
    plt = _pyplot()
    horizons = result.split.get("horizons_days", [30, 60, 90])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, values in result.metrics.items():
        ax1.plot(
            horizons,
            [values.get(f"won_{h}d_predicted") for h in horizons],
            marker="o",
            label=f"{name}: predicted",
        )
    first = next(iter(result.metrics.values()))
    ax1.plot(
        horizons,
        [first.get(f"won_{h}d_observed") for h in horizons],
        marker="s",
        c="k",
        label="observed",
    )
    ax1.set(
        xlabel="days after the landmark",
        ylabel="share won within",
        title="Won within 30/60/90 days (holdout)",
    )
    ax1.legend(fontsize=8)
    ax2.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    for name, table in result.calibration.items():
        ax2.plot(table["predicted"], table["observed"], marker="o", label=name)
    ax2.set(
        xlabel=f"predicted P(won within {max(horizons)} days)",
        ylabel="observed share",
        title="Calibration (holdout)",
    )
    ax2.legend(fontsize=8)
    return _save(fig, folder / "timing_calibration.png")
