"""The model card speaks words: its holdout table names models and metrics as a manager reads
them ("naive Bayes (same inputs)", "AUC (higher is better)"), not as MLflow keys them."""

from __future__ import annotations

import re

import pytest

from serving.dashboard.labels import metric_label, model_label
from tests.serving.test_dashboard import app, client, env, viewer  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def test_the_holdout_table_names_models_and_metrics_in_words(viewer):  # noqa: F811
    card = viewer.get("/").text
    card = card[card.index('id="models"') :]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", card) + re.findall(r"<tr><td>([^<]*)</td>", card)
    assert headers, "no holdout table on the model card"
    assert not [h for h in headers if "_" in h], headers
    assert "AUC (higher is better)" in card and "naive Bayes" in card


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("model", "this model"),
        ("family_logistic_regression", "logistic regression (same inputs)"),
        ("rival_stage_win_rate", "stage win rate (naive rival)"),
        ("some_new_rival", "some new rival"),
    ],
)
def test_a_holdout_column_is_named_in_words(name, words):
    assert model_label(name) == words


def test_a_holdout_metric_says_which_way_is_better():
    assert metric_label("brier") == "Brier score (lower is better)"
    assert metric_label("new_metric") == "new metric"
