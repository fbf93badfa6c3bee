"""An export without accounts (or owners): every deal's "account's past win rate" would be the
overall rate, a reason about nothing ("Account's past win rate = 45%: raises the score"), so
the field and the rates taken per it are left out of model inputs, and said."""

from __future__ import annotations

from forecast import features as feat
from forecast.data.generator import generate_pipeline
from forecast.history import DealHistory


def test_a_field_no_deal_has_is_left_out_with_the_rates_taken_per_it():
    gen = generate_pipeline(300, seed=3)
    deals = gen.opportunities.assign(account=None)
    history = DealHistory.from_frames(deals, gen.history, gen.stages)
    assert "account" in history.left_out and "owner" not in history.left_out
    assert any(n.startswith("account: no deal has one") for n in history.leak_notes)
    inputs = feat.model_features(history.left_out)
    assert "account_win_rate" not in inputs and "account_closed_deals" not in inputs
    assert "rep_win_rate" in inputs
    # With accounts, nothing of it.
    kept = DealHistory.from_frames(gen.opportunities, gen.history, gen.stages)
    assert "account" not in kept.left_out
