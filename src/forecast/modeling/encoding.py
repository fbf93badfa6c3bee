"""The feature encoder: a DataFrame (or one row as a mapping) as the float matrix LightGBM reads.

Numbers pass through; text becomes integer codes of the levels seen in fit. Encoding one row
(`encode_row`) touches no DataFrame: a dict lookup per field, so the scoring path for one row
stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype


class FeatureEncoder:
    """Frame ↔ float matrix: numbers as they are, text as integer codes of the levels seen in fit.

    A level not seen in fit (or beyond the `max_levels` most frequent) and a missing value both
    become NaN, which LightGBM routes as missing.
    """

    def __init__(self, max_levels: int = 200) -> None:
        self.max_levels = max_levels
        self.columns: list[str] = []
        self.levels: dict[str, list[str]] = {}
        self._codes: dict[str, dict[str, int]] = {}

    def fit(self, X: pd.DataFrame) -> FeatureEncoder:
        self.columns = [str(c) for c in X.columns]
        self.levels = {}
        for col in X.columns:
            series = X[col]
            if isinstance(series.dtype, pd.CategoricalDtype):  # text kept as codes: its values
                series = series.astype(series.cat.categories.dtype)
            if is_numeric_dtype(series):
                continue
            counts = series.dropna().astype(str).value_counts()
            self.levels[str(col)] = [str(v) for v in counts.index[: self.max_levels]]
        self._codes = {c: {v: i for i, v in enumerate(lv)} for c, lv in self.levels.items()}
        return self

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c in self.levels]

    def transform(self, X: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
        """X (or only its `rows`, a boolean mask) as the float matrix.

        Built a column at a time, so that a mask costs the part's matrix and one column, not a
        whole matrix and its copy (issue 14: the booster's fitting, early-stopping and
        calibration parts of millions of rows). Text is matched to the levels by factorizing
        the column (its distinct values looked up once), not one Python object per cell."""
        n = len(X) if rows is None else int(np.count_nonzero(rows))
        out = np.full((n, len(self.columns)), np.nan)
        for j, col in enumerate(self.columns):
            if col not in X:
                continue
            series = X[col] if rows is None else X[col][rows]
            if col in self.levels:
                out[:, j] = self._level_codes(col, series)
            else:
                out[:, j] = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        return out

    def _level_codes(self, col: str, series: pd.Series) -> np.ndarray:
        """Column `col`'s level index per value as floats: NaN where missing or not a level."""
        found, distinct = pd.factorize(series, use_na_sentinel=True)
        known = self._codes[col]
        lookup = np.array([known.get(v, -1) if isinstance(v, str) else -1 for v in distinct])
        codes = np.append(lookup, -1)[found].astype(float)  # -1 (missing) takes the last slot
        codes[codes < 0] = np.nan
        return codes

    def encode_row(self, row: Mapping[str, Any]) -> np.ndarray:
        """One row (a mapping of field → value) as a 1×d array; unknown fields are ignored."""
        out = np.empty((1, len(self.columns)))
        for j, col in enumerate(self.columns):
            value = row.get(col)
            codes = self._codes.get(col)
            if codes is not None:
                out[0, j] = codes.get(str(value), math.nan) if value is not None else math.nan
            else:
                try:
                    out[0, j] = math.nan if value is None else float(value)
                except (TypeError, ValueError):
                    out[0, j] = math.nan
        return out

    def decode(self, j: int, code: float) -> object:
        """The original value behind column j's encoded `code` (None when missing)."""
        if code != code:  # NaN
            return None
        col = self.columns[j]
        if col in self.levels:
            return self.levels[col][int(code)]
        return float(code)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._codes = {c: {v: i for i, v in enumerate(lv)} for c, lv in self.levels.items()}

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_codes"}
