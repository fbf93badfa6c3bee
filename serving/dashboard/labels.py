"""Words for the names the model card's holdout table is keyed by (MLflow metric names).

A manager reads "naive Bayes (same inputs)" and "AUC (higher is better)", not `family_naive_bayes`
and `roc_auc`; a name not listed here is shown with its underscores as spaces.
"""

from __future__ import annotations

MODELS = {
    "model": "this model",
    "champion": "current champion",
    "lightgbm": "LightGBM",
    "logistic_regression": "logistic regression",
    "naive_bayes": "naive Bayes",
    "stage_win_rate": "stage win rate",
    "base_rate": "base rate",
}
METRICS = {
    "roc_auc": "AUC (higher is better)",
    "brier": "Brier score (lower is better)",
    "log_loss": "log loss (lower is better)",
    "average_precision": "average precision (higher is better)",
}


def _words(name: str) -> str:
    return MODELS.get(name, name.replace("_", " "))


def model_label(name: str) -> str:
    """A holdout column's model in words: a family fitted on the same inputs, a naive rival."""
    if name.startswith("family_"):
        return f"{_words(name[len('family_') :])} (same inputs)"
    if name.startswith("rival_"):
        return f"{_words(name[len('rival_') :])} (naive rival)"
    return _words(name)


def metric_label(name: str) -> str:
    """A holdout metric in words, saying which way is better."""
    return METRICS.get(name, name.replace("_", " "))
