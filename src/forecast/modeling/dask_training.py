"""Training on a Dask cluster: the engine `train_deals` and `train_leads` take with `--cluster`.

Only two steps differ from an in-process run (`fitting.InProcess`); everything else — the
checks, the holdout cut, the leak check, the simple families, the baselines, the bootstrap
intervals, the choice of family and the promotion gate — is the same code in this process:

- **rows**: deal snapshot rows are built on the workers, partition by partition of deals, with
  every close indexed once and shared (`forecast.dask_rows`); each partition's rows are read at
  once by all that reads them (`DaskEngine._built`) and let go, and what is read of them stays
  there: every model and baseline scores the holdout on the workers (`ClusterHoldout`) and only
  its predictions, labels, weights and deals come back, for the bootstrap intervals here.
  The leak check, logistic regression, naive Bayes and the baselines learn from every training
  row when there are at most `family_rows` of them, else from a stable sample of whole deals
  of about that size (the run's warnings say so);
- **booster**: LightGBM's data-parallel training on the rows on the workers
  (`dask_boosting`), global and per team.

A canonical Parquet export or a stored dataset read by partition (`parquet_export.
read_partitioned`, `store_slices.read_store_partitioned`) is the `source`: its slices are read
on the workers, and the run's history here holds
three columns of the deals only (no other field, no stage history); every close is indexed on
a worker.

Leads are one row each and arrive in this process; their booster is fitted on the cluster from
partitions of the training rows.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast import dask_rows
from forecast import features as feat
from forecast.history import DealHistory
from forecast.modeling import dask_boosting
from forecast.modeling.estimators import PerTeamClassifier
from forecast.modeling.fitting import FAMILY_ROWS, DealRows, family_sample_note, score_models

if TYPE_CHECKING:
    from distributed import Client, Future

    from forecast.parquet_export import PartitionedExport


def deal_matrix_part(rows: pd.DataFrame, left_out: frozenset[str]) -> pd.DataFrame:
    """A partition's training rows as the booster's inputs, label, weight and deal, compact as
    in process (`slice_rows`): text inputs as categoricals (a code per row, not the text; the
    encoder reads their values) and one id object per deal, not per row. They stay on the
    workers for the whole run: at a million deals about 100 bytes a row less."""
    from forecast.modeling.slice_rows import shared_ids

    inputs = feat.deal_features(rows, left_out)
    text = {
        c: pd.Categorical(inputs[c]) for c in inputs if isinstance(inputs[c].dtype, pd.StringDtype)
    }
    return inputs.assign(
        **text,
        **{
            dask_boosting.LABEL: rows["won"].to_numpy(float),
            dask_boosting.WEIGHT: rows["weight"].to_numpy(float),
            dask_boosting.GROUP: shared_ids(rows["id"]),
        },
    )


class DaskEngine:
    """Rows built and the booster fitted on the cluster `client` is connected to."""

    def __init__(
        self,
        client: Client,
        scheduler: str,
        *,
        family_rows: int = FAMILY_ROWS,
        source: PartitionedExport | None = None,
    ) -> None:
        self.client = client
        self.family_rows = family_rows
        self.source = source
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        self.workers = max(1, len(workers))
        self.params: dict[str, Any] = {
            "engine": "dask",
            "dask_scheduler": scheduler,
            "dask_workers": self.workers,
        }
        self._matrix: dask_boosting.ClusterMatrix | None = None

    def deal_rows(
        self,
        history: DealHistory,
        *,
        every_days: int,
        cut: pd.Timestamp,
        created_before: pd.Timestamp,
        seed: int,
    ) -> DealRows:
        client = self.client
        pieces: list[Any]
        if self.source is None:
            parts = dask_rows.partition_count(len(history.deals), self.workers)
            closes = client.scatter(
                feat.PastCloses.from_outcomes(history.closed_outcomes()), broadcast=True
            )
            pieces = client.scatter(dask_rows.split_history(history, parts))
        else:  # the slices are read on the workers where needed; the fields left out are this run's
            pieces = self.source.slices_leaving_out(history)
            closes = None  # every close indexed on a worker from the slices' (`_built`)
        plan = (every_days, cut, created_before)
        return self._built(pieces, closes, plan, history.left_out, seed)

    def fingerprint(self, history: DealHistory) -> str:
        if self.source is not None:
            return self.source.fingerprint
        from forecast.data.fingerprint import fingerprint

        return fingerprint(history.deals, history.stage_log)

    def _built(
        self,
        pieces: list[Any],
        closes: Future | None,
        plan: tuple[int, pd.Timestamp, pd.Timestamp],
        left_out: frozenset[str],
        seed: int,
    ) -> DealRows:
        """Each partition's rows built and read at once by everything that reads them (the
        booster's part, the holdout's inputs and labels, the simple families' sample, the
        counts), so that a partition's rows go as soon as they are read: the rows of every
        partition at once took most of a worker's peak (issue 14). The sample's size is
        counted first, so it is drawn as the rows come. `pieces`: histories on the cluster, or
        slices of an export (`parquet_export.ExportSlice`) read where needed, twice (a first
        pass counts the rows and, without `closes`, gives the closes every partition reads).
        Here: (a sample of) the training rows; the booster's inputs and the holdout's stay on
        the workers."""
        client = self.client
        first = [client.submit(_first_pass, p, plan, closes is None) for p in pieces]
        if closes is None:  # every close indexed on a worker; each worker fetches it once
            closes = client.submit(
                dask_rows.past_closes, *[client.submit(operator.getitem, f, 1) for f in first]
            )
        counted = client.gather([client.submit(operator.getitem, f, 0) for f in first])
        del first
        total = int(sum(counted))
        fraction = 1.0 if total <= self.family_rows else self.family_rows / max(total, 1)
        matrix, summaries, samples, held, labels = [], [], [], [], []
        for piece in pieces:  # readers first (priority), so rows wait for no other partition
            rows = client.submit(_rows_of, piece, closes, plan)
            train = client.submit(operator.getitem, rows, 0, priority=1)
            test = client.submit(operator.getitem, rows, 1, priority=1)
            matrix.append(client.submit(deal_matrix_part, train, left_out, priority=1))
            summaries.append(client.submit(dask_rows.row_summary, train, priority=1))
            samples.append(client.submit(dask_rows.sampled_rows, train, seed, fraction, priority=1))
            held.append(client.submit(feat.deal_features, test, left_out, priority=1))
            labels.append(client.submit(_holdout_labels, test, priority=1))
            del rows, train, test
        del pieces, closes
        found = client.gather(summaries)
        if sum(s["rows"] for s in found) != total:  # the count and the rows disagree: a bug
            raise RuntimeError("training rows built differ from those counted")
        deal_labels = [s["deal_labels"] for s in found]
        sample = dask_rows.concat_rows(client.gather(samples))
        y, w, ids = (np.concatenate([part[i] for part in client.gather(labels)]) for i in range(3))
        holdout = ClusterHoldout(client, held, y, w, ids)
        note = family_sample_note(len(sample), total, fraction, "on the cluster")
        self._matrix = self._matrix_of(matrix)
        all_labels = np.concatenate(deal_labels) if deal_labels else np.zeros(0)
        return DealRows(sample, holdout, total, all_labels, note)

    def _matrix_of(self, parts: list[Future]) -> dask_boosting.ClusterMatrix:
        head = self.client.submit(_head, parts[0]).result()
        columns = [c for c in head.columns if c not in _BOOKKEEPING]
        return dask_boosting.ClusterMatrix(
            parts, columns, dask_boosting.text_columns(head[columns])
        )

    def use_rows(self, matrix: dask_boosting.ClusterMatrix) -> None:
        """The booster's rows, on the workers already (a lead source's: `dask_leads`)."""
        self._matrix = matrix

    def fit_boosted(
        self, model: Any, X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, groups: Any
    ) -> Any:
        data = self._matrix
        if data is None:  # rows held here (leads): partitions of them on the cluster
            parts = dask_rows.partition_count(len(X), self.workers)
            data = dask_boosting.scatter_matrix(self.client, X, y, w, groups, parts)
        if isinstance(model, PerTeamClassifier):
            return dask_boosting.fit_per_team(self.client, model, data)
        counts = dask_boosting.level_counts(self.client, data, None)[None]
        return dask_boosting.fit_boosted(self.client, model, data, counts)


_BOOKKEEPING = (dask_boosting.LABEL, dask_boosting.WEIGHT, dask_boosting.GROUP)


class ClusterHoldout:
    """Holdout rows kept on the workers, partition by partition: their labels, weights and deals
    are here; their inputs stay there, where every model scores them (`fitting.score_models`),
    so only predictions come back."""

    def __init__(
        self, client: Client, parts: list[Future], y: np.ndarray, w: np.ndarray, ids: np.ndarray
    ) -> None:
        self.client = client
        self.parts = parts
        self.y, self.w, self.ids = y, w, ids
        sizes = client.gather([client.submit(len, f) for f in parts])
        self.starts = np.r_[0, np.cumsum(sizes)].astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def scores(self, models: dict[str, Any]) -> dict[str, np.ndarray | Exception]:
        [shipped] = self.client.scatter([models], hash=False)
        found = self.client.gather(
            [self.client.submit(score_models, shipped, f) for f in self.parts]
        )
        out: dict[str, np.ndarray | Exception] = {}
        for name in models:
            each = [part[name] for part in found]
            failed = [e for e in each if isinstance(e, Exception)]
            out[name] = failed[0] if failed else np.concatenate(each)
        return out

    def rows(self, positions: Sequence[int]) -> pd.DataFrame:
        at = np.asarray(list(positions), dtype=np.int64)
        part = np.searchsorted(self.starts, at, side="right") - 1
        wanted = sorted(set(part.tolist()))
        taken = self.client.gather(
            [
                self.client.submit(_take, self.parts[i], at[part == i] - self.starts[i])
                for i in wanted
            ]
        )
        found = pd.concat(taken)
        order = np.concatenate([np.flatnonzero(part == i) for i in wanted])
        out = found.iloc[np.argsort(order, kind="stable")]
        out.index = pd.Index(at)  # positions in the whole holdout, as in process
        return out

    def frame(self) -> pd.DataFrame:
        return dask_rows.gather_rows(self.client, self.parts)


def _holdout_labels(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A partition's holdout labels, weights and deals (one id object a deal: they come to the
    command's process, for the bootstrap)."""
    from forecast.modeling.slice_rows import shared_ids

    return (
        rows["won"].to_numpy(float, copy=True),
        rows["weight"].to_numpy(float, copy=True),
        shared_ids(rows["id"]),
    )


def _take(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    return frame.iloc[positions]


def _head(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.head(0)


def _first_pass(
    piece: Any, plan: tuple[int, pd.Timestamp, pd.Timestamp], with_closes: bool
) -> tuple[int, pd.DataFrame | None]:
    """A partition's training rows counted (`dask_rows.training_row_count`) and, where asked,
    its closes as `features.PastCloses` reads them (no ids)."""
    history = dask_rows.opened(piece)
    count = dask_rows.training_row_count(history, *plan)
    closes = history.closed_outcomes().drop(columns="id") if with_closes else None
    return count, closes


def _rows_of(
    piece: Any, closes: feat.PastCloses, plan: tuple[int, pd.Timestamp, pd.Timestamp]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A partition's training and holdout rows (`dask_rows`), from one read of its history."""
    every_days, cut, created_before = plan
    history = dask_rows.opened(piece)
    return (
        dask_rows.training_rows_part(history, closes, every_days, cut, created_before),
        dask_rows.holdout_rows_part(history, closes, every_days, cut),
    )
