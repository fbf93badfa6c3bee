"""Leads on a Dask cluster: a stored leads dataset trained from slices read on the workers.

`ClusterLeads` is the `lead_fitting.LeadSource` of `forecast train leads --cluster` on a stored
dataset (`store_slices.lead_slices`): each step reads the slices where it runs and keeps nothing
of them between steps but what it returns or leaves on the workers. The command's process holds
every lead's keys (id, label, dates: what the labels, the outcome window and the holdout read),
the columns' facts (`lead_columns.facts_of` per slice; `decide` reads them as one frame's), and
the inputs of the labelled leads, or past `family_rows` of them a stable sample, for the leak
checks, the simple families and the baselines. The booster's rows and the holdout's inputs stay
on the workers: LightGBM learns from every training lead there (`dask_boosting`), and every model
scores the holdout there (`dask_training.ClusterHoldout`).

Over the same leads, the run's figures are those of a run in process (the booster's within the
noise of `lightgbm.dask`'s training): the slices' concatenation in order is the whole read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from forecast import lead_columns
from forecast.data.fingerprint import column_names, row_hashes
from forecast.lead_columns import LeadColumns
from forecast.modeling import dask_boosting
from forecast.modeling.fitting import FAMILY_ROWS

if TYPE_CHECKING:
    from distributed import Client

    from forecast.modeling.fitting import Engine, Holdout

#: What a leads read holds besides attributes, in its order (`store_reads.load_leads`).
KEYS = ("id", "converted", "created_at", "converted_at")


class ClusterLeads:
    """A stored leads dataset's slices (`store_slices.LeadSlice`), read on the workers."""

    where = "on the cluster"

    def __init__(
        self,
        client: Client,
        slices: Sequence[Any],
        family_rows: int = FAMILY_ROWS,
        date_formats: Sequence[str] = (),
    ) -> None:
        self.client = client
        self.slices = list(slices)
        self.family_rows = family_rows
        #: The dataset's own date formats (`lead_columns.facts_of`).
        self.date_formats = tuple(date_formats)
        self._sizes: list[int] = []
        self._columns: list[str] = []  # a whole read's, in its order
        self._text: list[str] = []  # the inputs that are text
        self._ids = np.zeros(0, dtype=object)  # every lead's, in order

    def _split(self, mask: np.ndarray) -> list[np.ndarray]:
        """A mask over every lead (or over the labelled ones, with `sizes`) cut per slice."""
        return np.split(mask, np.cumsum(self._sizes)[:-1]) if self._sizes else [mask]

    def _labelled_split(self, labelled: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
        """A mask over the labelled leads cut per slice (each slice's labelled leads)."""
        counts = [int(part.sum()) for part in self._split(labelled)]
        return np.split(mask, np.cumsum(counts)[:-1])

    def keys(self) -> pd.DataFrame:
        found = self.client.gather([self.client.submit(_keys, s) for s in self.slices])
        self._sizes = [len(keys) for keys, _ in found]
        attributes = list(dict.fromkeys(a for _, names in found for a in names))
        dated = [c for c in KEYS[2:] if any(c in keys for keys, _ in found)]
        self._columns = ["id", *attributes, "converted", *dated]
        frames = [keys.reindex(columns=["id", "converted", *dated]) for keys, _ in found]
        keys = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEYS)
        self._ids = keys["id"].to_numpy(dtype=object)
        return keys

    def columns(
        self,
        labelled: np.ndarray,
        hours: bool | None,
        leak_columns: Sequence[str],
        include_leaks: bool,
    ) -> LeadColumns:
        masks = self._split(labelled)
        found = self.client.gather(
            [
                self.client.submit(_facts, s, m, hours, self.date_formats)
                for s, m in zip(self.slices, masks, strict=True)
            ]
        )
        names = list(dict.fromkeys(n for named, _ in found for n in named))
        return lead_columns.decide(
            [facts for _, facts in found], names, leak_columns, include_leaks=include_leaks
        )

    def inputs(
        self, labelled: np.ndarray, hours: bool | None, columns: LeadColumns, take: np.ndarray
    ) -> pd.DataFrame:
        parts = self._parts(labelled, hours, columns, take)
        X = pd.concat(self.client.gather(parts), ignore_index=True)
        X = _typed(X, [c for c in X.columns if not is_numeric_dtype(X[c])])
        self._text = dask_boosting.text_columns(X)
        return X

    def holdout(
        self,
        labelled: np.ndarray,
        hours: bool | None,
        columns: LeadColumns,
        test: np.ndarray,
        y_test: np.ndarray,
    ) -> pd.DataFrame | Holdout:
        from forecast.modeling.dask_training import ClusterHoldout

        parts = self._parts(labelled, hours, columns, test)
        ids = self._ids[labelled][test]
        return ClusterHoldout(self.client, parts, y_test, np.ones(len(y_test)), ids)

    def prepare_booster(
        self,
        engine: Engine,
        labelled: np.ndarray,
        hours: bool | None,
        columns: LeadColumns,
        train: np.ndarray,
        y: np.ndarray,
    ) -> None:
        parts = self._parts(labelled, hours, columns, train)
        counts = np.cumsum([0, *[int(m.sum()) for m in self._labelled_split(labelled, train)]])
        labels = np.split(y, counts[1:-1])
        matrix = [
            self.client.submit(_booster_part, p, y_part, int(start))
            for p, y_part, start in zip(parts, labels, counts[:-1], strict=True)
        ]
        text = [c for c in self._text if c in columns.features]
        rows = dask_boosting.ClusterMatrix(matrix, list(columns.features), text)
        use_rows = getattr(engine, "use_rows", None)
        if use_rows is None:  # a bug: the CLI pairs this source with the cluster's engine
            raise TypeError("leads read on a cluster are fitted there: a DaskEngine is needed")
        use_rows(rows)

    def fingerprint(self) -> str:
        """`data.fingerprint.fingerprint` of the whole read, from the slices' row hashes."""
        hashes = self.client.gather(
            [self.client.submit(_row_hashes, s, self._columns) for s in self.slices]
        )
        digest = hashlib.sha256()
        digest.update(np.sort(np.concatenate(hashes or [np.zeros(0, np.uint64)])).tobytes())
        digest.update(column_names(pd.DataFrame(columns=self._columns)))
        return digest.hexdigest()[:16]

    def _parts(
        self, labelled: np.ndarray, hours: bool | None, columns: LeadColumns, rows: np.ndarray
    ) -> list[Any]:
        """Per slice, on its worker: the inputs of its labelled leads where `rows` (a mask over
        every labelled lead)."""
        pairs = zip(
            self.slices, self._split(labelled), self._labelled_split(labelled, rows), strict=True
        )
        text = self._text or None
        return [self.client.submit(_inputs, s, m, r, hours, columns, text) for s, m, r in pairs]


# --- on the workers -----------------------------------------------------------------------------


def _keys(piece: Any) -> tuple[pd.DataFrame, list[str]]:
    """A slice's keys and its attributes' names, in its order."""
    leads = piece.read()
    keys = leads[[c for c in KEYS if c in leads.columns]]
    return keys, lead_columns.attribute_names(leads)


def _attributes(piece: Any, labelled: np.ndarray, hours: bool | None) -> pd.DataFrame:
    from forecast.modeling.lead_fitting import with_dates

    leads = piece.read()
    return with_dates(leads[labelled].reset_index(drop=True), hours)


def _facts(
    piece: Any, labelled: np.ndarray, hours: bool | None, date_formats: Sequence[str] = ()
) -> tuple[list[str], dict[str, lead_columns.ColumnFacts]]:
    attributes = _attributes(piece, labelled, hours)
    facts = lead_columns.facts_of(attributes, date_formats)
    return lead_columns.attribute_names(attributes), facts


def _inputs(
    piece: Any,
    labelled: np.ndarray,
    rows: np.ndarray,
    hours: bool | None,
    columns: LeadColumns,
    text: list[str] | None,
) -> pd.DataFrame:
    attributes = _attributes(piece, labelled, hours)
    X = lead_columns.apply(attributes, columns)[rows].reset_index(drop=True)
    return _typed(X, text) if text is not None else X


def _typed(X: pd.DataFrame, text: Sequence[str]) -> pd.DataFrame:
    """Text inputs as text where a slice has none of a column's values (read as blank floats)."""
    return X.assign(**{c: X[c].astype("str").where(X[c].notna()) for c in text if c in X})


def _booster_part(X: pd.DataFrame, y: np.ndarray, start: int) -> pd.DataFrame:
    return X.assign(
        **{
            dask_boosting.LABEL: np.asarray(y, float),
            dask_boosting.WEIGHT: np.ones(len(X)),
            dask_boosting.GROUP: np.arange(start, start + len(X)),
        }
    )


def _row_hashes(piece: Any, columns: list[str]) -> np.ndarray:
    return np.asarray(row_hashes(piece.read().reindex(columns=columns)))
