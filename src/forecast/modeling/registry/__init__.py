"""The model registry: the one package that touches MLflow.

One registered model per kind and dataset, `<base>.<dataset>` (`model_name`; the dataset's
exact name in its tag `dataset`): a candidate is only ever weighed against its own dataset's
champion, and each dataset has its own champion to serve. Where a dataset is not named, the
only dataset with a model of that kind is meant (several: an error naming them). A registered
model without that tag (an earlier install's single `lead-qualification`) is ignored.

Every model kind (leads, deals, timing) goes through one path, `log_training`: log a run
(params, metrics of the model, each baseline and the current champion on the same holdout, the
data's fingerprint and row counts, the summary, plots from `forecast.modeling.plots`, the model),
register the model as a new version with the alias `candidate`, ask the gate
(`forecast.modeling.promotion`) whether it beats the champion and every baseline, and give it
the alias `champion` only if it does.
`promote` runs the same gate later; `rollback` hands `champion` back to the previous one.
`log_backtest` only logs a run.

Format: leads and deals are `mlflow.pyfunc` models whose artifact is our fitted estimator saved
with joblib, of whichever family won (tagged `family` on the run and the version). MLflow 3
saves scikit-learn models with skops, which refuses to load any type not declared as trusted:
our estimator holds a LightGBM Booster, a feature encoder and calibrator tuples, so the trusted
list would have to track every internal type and break on each refactor.
The pyfunc wrapper keeps MLflow's model format (signature, input example, `mlflow models serve`)
while the artifact is exactly the object that was evaluated. The timing model is not a row
scorer, so its joblib file is a plain run artifact. Joblib/pickle is only as safe as the store it
comes from: this registry is the service's own, written only by `forecast train`.

Failure leaves nothing half-made: if any step after the run starts fails, the model version,
a registered model created for it, the logged model and the run are deleted, then the error is
raised again. The loader for serving keeps a local copy of each dataset's champion under the
state folder, so a restart can serve every dataset's without reaching MLflow.
"""

from forecast.modeling.registry.champions import (
    LoadedModel,
    champion_datasets,
    champion_listing,
    champion_versions,
    load_champion,
    load_timing_champion,
)
from forecast.modeling.registry.client import (
    CANDIDATE,
    CHAMPION,
    EXPERIMENTS,
    MODEL_NAMES,
    NO_DATASET,
    model_name,
)
from forecast.modeling.registry.runs import Registration, log_backtest, log_training
from forecast.modeling.registry.versions import (
    champion_version,
    list_models,
    promote,
    rollback,
    show_model,
)

__all__ = [
    "CANDIDATE",
    "CHAMPION",
    "EXPERIMENTS",
    "MODEL_NAMES",
    "NO_DATASET",
    "LoadedModel",
    "Registration",
    "champion_datasets",
    "champion_listing",
    "champion_version",
    "champion_versions",
    "list_models",
    "load_champion",
    "load_timing_champion",
    "log_backtest",
    "log_training",
    "model_name",
    "promote",
    "rollback",
    "show_model",
]
