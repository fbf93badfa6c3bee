"""Deal rows gathered a slice of deals at a time in one process, holding only what is read later.

`fitting.InProcess` builds a run's snapshot rows slice by slice (issue 14: a million deals make
about four million training rows). Held whole, every slice's rows (ids, dates, owners, accounts
and every input) stood beside the booster's copy of their inputs until the last slice was built;
here each slice is cut at once to what the run reads again:

- `InputColumns`: the booster's inputs, labels, weights and deal ids of every training row (or
  the holdout's), kept column by column, so that joining the slices frees each slice's column
  as it is copied: the peak is one column beside the rows, not the rows twice. With `compact`
  (the booster's rows) text columns are kept as categoricals, a code per row rather than the
  text (about 100 bytes a row less); the booster's encoder reads their values unchanged.
- `DealSample`: the rows of a stable sample of whole deals for the simple families, filtered
  as the slices come with a bound that only falls (`FAMILY_ROWS` over the rows so far), so
  that at most about that many rows are held, never every row.

The frames handed on equal those of the whole history's rows at once (same columns, values and
dtypes, in the same order): what the models learn from is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from forecast import dask_rows
from forecast import features as feat


class InputColumns:
    """Model inputs of rows given a slice at a time (`add`), joined once at the end (`take`)."""

    def __init__(self, left_out: frozenset[str], *, compact: bool = False) -> None:
        self.left_out, self.compact = left_out, compact
        self._slices: list[dict[str, Any]] = []
        self._columns: list[str] | None = None

    def add(self, rows: pd.DataFrame) -> None:
        """Keep `rows`' inputs (`features.deal_features`' columns), label, weight and id."""
        names = list(feat.deal_features(rows.iloc[:0], self.left_out).columns)
        if self._columns is None:
            self._columns = names
        kept: dict[str, Any] = {c: _own(rows[c], self.compact) for c in names}
        kept["__won"] = rows["won"].to_numpy(float, copy=True)
        kept["__weight"] = rows["weight"].to_numpy(float, copy=True)
        kept["__id"] = shared_ids(rows["id"])
        self._slices.append(kept)

    def __len__(self) -> int:
        return sum(len(s["__won"]) for s in self._slices)

    def take(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        """Inputs (as `features.deal_features` of the slices' rows joined), labels, weights and
        ids of every row added, in order; the slices are let go column by column."""
        slices, self._slices = self._slices, []
        names = self._columns or []
        inputs = {c: _joined([s.pop(c) for s in slices]) for c in names}
        won, weight, ids = (np.concatenate([s.pop(k) for s in slices]) for k in _BOOKKEEPING)
        frame = pd.DataFrame(inputs, columns=names, copy=False)
        if not names:
            frame = pd.DataFrame(index=pd.RangeIndex(len(won)))
        return frame, won, weight, ids


_BOOKKEEPING = ("__won", "__weight", "__id")


def shared_ids(ids: pd.Series) -> np.ndarray:
    """`ids.to_numpy()` with one Python object per distinct id rather than per row: equal
    values, while a deal's several rows share its id (about four rows a deal)."""
    found, distinct = pd.factorize(ids, use_na_sentinel=False)
    return np.asarray(distinct.to_numpy(dtype=object), dtype=object)[found]


def _own(column: pd.Series, compact: bool = False) -> Any:
    """A column's values detached from its frame (a copy of a numpy column; text arrays are
    immutable and shared), so that the rest of the frame can be freed; text as a categorical
    where `compact`."""
    if compact and isinstance(column.dtype, pd.StringDtype):
        return pd.Categorical(column)
    values = column.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        return column.to_numpy(copy=True)
    return values


def _joined(parts: Sequence[Any]) -> pd.Series:
    """One column from its slices' values, as `pd.concat` of the slices' frames would make it;
    categoricals of text joined over the union of their levels (their values unchanged)."""
    if parts and all(isinstance(p, pd.Categorical) for p in parts):
        return pd.Series(union_categoricals(list(parts)), copy=False)
    series = [
        pd.Series(p.astype(p.categories.dtype) if isinstance(p, pd.Categorical) else p, copy=False)
        for p in parts
    ]
    return pd.concat(series, ignore_index=True) if series else pd.Series(dtype=float)


class DealSample:
    """Training rows of a stable sample of whole deals, about `most` rows, kept as slices come.

    Every row is kept while there are at most `most`; past that, the deals kept are those whose
    stable fraction (`dask_rows.sampled_rows`, by id and seed) is under `most` / rows so far, a
    bound that only falls: filtering again by the final fraction gives exactly the rows the
    final fraction picks from all the rows at once.
    """

    def __init__(self, most: int, seed: int) -> None:
        self.most, self.seed = most, seed
        self.total = 0
        self._kept: list[pd.DataFrame] = []

    def whole(self) -> list[pd.DataFrame]:
        """The slices kept so far, whole while `fraction` is 1."""
        return list(self._kept)

    def add(self, rows: pd.DataFrame) -> None:
        self.total += len(rows)
        self._kept.append(rows)
        if self.total > self.most:
            bound = self.fraction
            self._kept = [dask_rows.sampled_rows(r, self.seed, bound) for r in self._kept]

    @property
    def fraction(self) -> float:
        """The share of deals kept: 1 while the rows so far are at most `most`."""
        return 1.0 if self.total <= self.most else self.most / self.total

    def rows(self) -> pd.DataFrame:
        """The sampled rows in slice order (every row while `fraction` is 1)."""
        fraction = self.fraction
        kept, self._kept = self._kept, []
        return dask_rows.concat_rows([dask_rows.sampled_rows(r, self.seed, fraction) for r in kept])
