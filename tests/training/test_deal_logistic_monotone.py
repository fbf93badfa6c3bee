"""Deal training fits its logistic regression monotone increasing in the past win rates, as its
LightGBM, whichever way it trains (as-of snapshots, or the per-deal model at creation beside a
flat export's stage probabilities): no fitted logistic model weighs a past win rate against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forecast import features as feat
from forecast.data.crm_exports import crm_stages, write_crm_export
from forecast.data.generator import generate_pipeline
from forecast.data.importing import read_export
from forecast.history import DealHistory
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.families import LinearClassifier
from forecast.settings import Settings
from tests.forecast.synthetic import deals


def _snapshots(folder: Path) -> DealHistory:
    opps, log, stages, _ = deals(900, seed=4)
    return DealHistory.from_frames(opps, log, stages, name="crm")


def _flat(folder: Path) -> DealHistory:
    pipeline = generate_pipeline(600, seed=21, stages=crm_stages("hubspot"))
    export = read_export(write_crm_export(pipeline, folder, "hubspot", seed=21))
    assert export.stages is not None and "stage_probabilities" in export.options
    return DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options, name="crm"
    )


@pytest.mark.parametrize("history", [_snapshots, _flat], ids=["snapshots", "flat"])
def test_every_logistic_fit_of_a_deal_training_keeps_the_past_win_rates_rising(
    tmp_path, monkeypatch, history
) -> None:
    fits: list[tuple[tuple[str, ...], dict[str, float]]] = []
    fit_rising = LinearClassifier._fit_rising

    def spy(self: LinearClassifier, design: np.ndarray, *args: Any) -> Any:
        coef, intercept = fit_rising(self, design, *args)
        names = self.encoder_.columns
        rates = {
            names[j]: float(coef[k])
            for k, (j, what, _) in enumerate(self.plan_)
            if what == "number" and names[j] in feat.PAST_WIN_RATES
        }
        fits.append((self.monotone_increasing, rates))
        return coef, intercept

    monkeypatch.setattr(LinearClassifier, "_fit_rising", spy)
    train_deals(history(tmp_path), settings=Settings(state_dir=tmp_path / "state"), dataset="crm")
    assert fits
    assert all(rising == feat.PAST_WIN_RATES for rising, _ in fits)
    read = {name for _, rates in fits for name in rates}
    assert "rep_win_rate" in read
    assert all(w >= 0 for _, rates in fits for w in rates.values())
