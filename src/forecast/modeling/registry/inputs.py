"""What a training run learnt from, logged with it: its data as an MLflow dataset input (context
"training", and "holdout" for the part it was tested on) and the data's time range as params,
so a run says which data, of which dates, made its model (and a backtest run, context
"backtest", which data it replayed).

No row goes to MLflow. A dataset input is its name (the project's dataset), its source (the
stored dataset, or the file or folder read), a digest, a schema and a row count:
- the digest is the run's data fingerprint (`data.fingerprint`, every row's content, in any
  order), which training computed already. MLflow's own (`compute_pandas_digest`) reads only the
  first 10,000 rows and first maps every cell of the frame to its type;
- the schema is inferred from the first `SAMPLE_ROWS` rows; the row count is the whole data's.
`mlflow.data.from_pandas` on a million deals took 74 s here (17 s for the digest, 57 s for the
schema); from the first rows with the digest given, 0.1 s.

The holdout has the training data's name and source; its digest is the fingerprint's with the
split (method, cut), and its input tags say the split. MLflow keeps one dataset per name and
digest in an experiment, with the source of the run that logged it first: each input's tag
`read_from` says where its own run read the data.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecast.settings import Settings, get_settings

if TYPE_CHECKING:
    from forecast.history import DealHistory

#: Rows of the data a dataset input's schema is inferred from.
SAMPLE_ROWS = 1000
#: The source type of a dataset read from the project's store (a file's is MLflow's "local").
STORE_SOURCE = "forecast-store"
TRAINING, HOLDOUT = "training", "holdout"
#: The context of a backtest's data (it fits and scores on the whole data, origin by origin).
BACKTEST = "backtest"
#: The input tag saying where the run read its data (the dataset's source is its first run's).
READ_FROM = "read_from"
#: The params a run's data range is logged as (`deal_data`, `lead_data`).
FIRST_CREATED, LAST_CREATED, AS_OF = "data_first_created", "data_last_created", "data_as_of"
DEALS, LEADS = "data_deals", "data_leads"


@dataclass(frozen=True)
class DataSource:
    """Where a run's data was read from: a stored dataset (`dataset`, in the store at `uri`,
    its password hidden) or a file or folder (`uri`, a file URI)."""

    uri: str
    dataset: str | None = None

    @property
    def said(self) -> str:
        return self.uri if self.dataset is None else f"dataset {self.dataset!r} in {self.uri}"


def file_source(path: Path) -> DataSource:
    return DataSource(path.resolve().as_uri())


def store_source(database_url: str, dataset: str) -> DataSource:
    """A stored dataset's source: the store's URL without its password, and the name."""
    from sqlalchemy.engine import make_url

    return DataSource(make_url(database_url).render_as_string(hide_password=True), dataset)


@dataclass(frozen=True)
class TrainingData:
    """The data a run learnt from, as logged with it (`log_data`): its name, source, first rows
    (for the schema), how many rows, and its range as params."""

    name: str
    source: DataSource
    rows: int
    params: dict[str, str]
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)


def _iso(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).isoformat()


def _range(created: pd.Series) -> dict[str, str]:
    """First and last creation, where any is dated (an undated dataset logs none)."""
    first, last = _iso(created.min()), _iso(created.max())
    return {} if first is None or last is None else {FIRST_CREATED: first, LAST_CREATED: last}


def deal_data(
    history: DealHistory, name: str, source: DataSource, *, end: Any = None
) -> TrainingData:
    """A deals run's data: its deals' first and last creation, its as-of date (the export's:
    the newest date it records, or its newest `updated_at` where later) and how many deals.
    `end`: the whole data's newest date, where `history` is a summary of it (a cluster's)."""
    deals = history.deals
    params = _range(pd.to_datetime(deals["created_at"]))
    newest = [end if end is not None else _end(history)]
    if "updated_at" in deals:
        newest.append(pd.to_datetime(deals["updated_at"]).max())
    dates = [pd.Timestamp(d) for d in newest if d is not None and pd.notna(d)]
    if dates:
        params[AS_OF] = max(dates).isoformat()
    params[DEALS] = str(len(deals))
    return TrainingData(name, source, len(deals), params, deals.head(SAMPLE_ROWS))


def _end(history: DealHistory) -> pd.Timestamp | None:
    from forecast.errors import InvalidInput

    try:
        return history.end
    except InvalidInput:  # the data holds no date
        return None


def lead_data(leads: pd.DataFrame, name: str, source: DataSource) -> TrainingData:
    """A leads run's data: the first and last lead's creation where leads are dated (read as
    training reads them, naive UTC) and how many leads."""
    from forecast.modeling.lead_dates import created_utc

    params = _range(created_utc(leads["created_at"])) if "created_at" in leads else {}
    params[LEADS] = str(len(leads))
    return TrainingData(name, source, len(leads), params, leads.head(SAMPLE_ROWS))


# --- logging and reading back -------------------------------------------------------------------


def log_data(data: TrainingData, result: Any) -> None:
    """Log `data` into the active training run: its range as params, the training data and the
    holdout (where the run has one: `result.split` and a test count in `result.rows`) as inputs,
    each tagged with where this run read the data (`READ_FROM`)."""
    tested = result.rows.get("test_deals", result.rows.get("test"))
    holdout = (result.split, int(tested)) if result.split and tested else None
    log_dataset(data, result.fingerprint, TRAINING, holdout=holdout)


def log_dataset(
    data: TrainingData,
    fingerprint: str,
    context: str,
    *,
    holdout: tuple[dict[str, Any], int] | None = None,
) -> None:
    """Log `data` into the active run (a training run's, `log_data`, or a backtest's, which
    replays the whole data: context `BACKTEST`, no holdout): its range as params and the data
    as an input of `context` with digest `fingerprint`; `holdout` (the split and its row count)
    as a second input whose digest is the fingerprint's with the split."""
    import mlflow

    mlflow.log_params(data.params)
    read_from = {READ_FROM: data.source.said}
    datasets = [_dataset(data, fingerprint, data.rows)]
    contexts: list[str | None] = [context]
    tags: list[dict[str, str] | None] = [read_from]
    if holdout is not None:
        split, tested = holdout
        text = json.dumps(split, sort_keys=True, default=str)
        digest = hashlib.sha256(f"{fingerprint}|{text}".encode()).hexdigest()[:16]
        datasets.append(_dataset(data, digest, tested))
        contexts.append(HOLDOUT)
        said = {"split": split.get("method"), "cut": split.get("cut")}
        tags.append({**read_from, **{k: str(v) for k, v in said.items() if v is not None}})
    mlflow.log_inputs(datasets, contexts, tags)


def _dataset(data: TrainingData, digest: str, rows: int) -> Any:
    """An MLflow pandas dataset of `data`'s first rows whose profile counts `rows`."""
    from forecast.modeling.registry.client import _hushed

    with _hushed():  # MLflow warns that a file URI could be read two ways, and about int columns
        source = _mlflow_source(data.source)
        dataset = _sized_class()(data.sample, source, name=data.name, digest=digest)
        dataset.rows = rows
        dataset.schema  # noqa: B018 - inferred here, where its warnings are hushed
    return dataset


@functools.cache
def _sized_class() -> type:
    from mlflow.data.pandas_dataset import PandasDataset

    class SizedPandasDataset(PandasDataset):
        """A dataset known by its first rows (schema) and its whole row count (profile)."""

        rows = 0

        @property
        def profile(self) -> dict[str, int]:
            columns = self.df.shape[1]  # none where the rows were never here (a cluster's)
            return {
                "num_rows": self.rows,
                **({"num_elements": self.rows * columns} if columns else {}),
            }

    return SizedPandasDataset


def _mlflow_source(source: DataSource) -> Any:
    if source.dataset is None:
        from mlflow.data.dataset_source_registry import resolve_dataset_source

        return resolve_dataset_source(source.uri)
    return _store_source_class()(source.uri, source.dataset)


@functools.cache
def _store_source_class() -> type:
    from mlflow.data.dataset_source import DatasetSource

    class StoreDatasetSource(DatasetSource):
        """A dataset in the project's store: where its rows are, read with `forecast`."""

        def __init__(self, uri: str, dataset: str) -> None:
            self.uri, self.dataset = uri, dataset

        @staticmethod
        def _get_source_type() -> str:
            return STORE_SOURCE

        def load(self) -> Any:
            raise NotImplementedError(f"read dataset {self.dataset!r} with forecast's store")

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source: Any) -> Any:
            raise NotImplementedError("a store source is made, not resolved")

        def to_dict(self) -> dict[str, str]:
            return {"uri": self.uri, "dataset": self.dataset}

        @classmethod
        def from_dict(cls, source_dict: dict[Any, Any]) -> Any:
            return cls(source_dict["uri"], source_dict["dataset"])

    return StoreDatasetSource


def run_inputs(run: Any) -> list[dict[str, Any]]:
    """A run's dataset inputs (`run.inputs`): context, name, digest, source and row count each;
    none for a run logged before inputs were."""
    out = []
    for entry in getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []:
        tags = {t.key: t.value for t in entry.tags or []}
        ds = entry.dataset
        try:
            rows = json.loads(ds.profile or "{}").get("num_rows")
        except json.JSONDecodeError:
            rows = None
        out.append(
            {
                "context": tags.get("mlflow.data.context"),
                "name": ds.name,
                "digest": ds.digest,
                "source_type": ds.source_type,
                "source": ds.source,
                "rows": rows,
                "tags": {k: v for k, v in tags.items() if not k.startswith("mlflow.")},
            }
        )
    return out


def logged_inputs(run_id: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """`run_inputs` of the run `run_id` (what `forecast models show` prints of its data)."""
    from forecast.modeling.registry.client import _mlflow

    with _mlflow(settings or get_settings()) as client:
        return run_inputs(client.get_run(run_id))
