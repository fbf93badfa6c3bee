"""Reps' and accounts' past win rates as of any date, read from an index built once.

A deal scored as of a past date reads the win rates as they stood then
(`deal_inputs.rates_as_of`). `features.win_rates_as_of` counts every close of the history again
for each date: milliseconds a request at 50,000 deals, growing with the history. The index
holds each rep's and account's closes in time order with their running count of wins, so the
rates as of a date are a binary search per rep and account asked for, whatever the history's
size: the same numbers `win_rates_as_of` gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd

from forecast.features import RATE_PRIOR_DEALS, WinRates
from forecast.history import DealHistory, as_timestamp

#: Per key (a rep, an account, as text): its close times (ns, ascending) and the running count
#: of its wins, one longer (0 first): the wins among its first n closes are `wins[n]`.
Closes = tuple[np.ndarray, np.ndarray]


class WinRateIndex:
    """The closes of a history by time, overall and per rep and account."""

    def __init__(self, history: DealHistory, prior_deals: float = RATE_PRIOR_DEALS) -> None:
        out = history.closed_outcomes()
        out = out[out["closed_at"].notna()]
        when = out["closed_at"].to_numpy("datetime64[ns]").view("int64")
        order = np.argsort(when, kind="stable")
        out = out.iloc[order]
        self._when = when[order]
        self._wins = _running(out["won"].to_numpy(dtype=float))
        self._prior = prior_deals
        self._by = {key: _grouped(out, self._when, key) for key in ("owner", "account")}

    def at(self, as_of: object) -> WinRates:
        """The win rates over the deals closed strictly before `as_of`, as `win_rates_as_of`
        gives them; each rep's and account's is worked out when it is looked up."""
        t = as_timestamp(as_of)
        at = _nanoseconds(t)
        n = int(np.searchsorted(self._when, at, side="left"))
        overall = (float(self._wins[n]) + 1.0) / (n + 2.0)
        rep, account = (_RatesAt(self._by[key], at, overall, self._prior) for key in self._by)
        return WinRates(t, overall, rep, account)


class _RatesAt(Mapping[str, tuple[float, float]]):
    """Each key's (smoothed win rate, closes) before a time, as `win_rates_as_of`'s tables hold
    them: a key with no close before then is not in it."""

    def __init__(self, closes: dict[str, Closes], at: int, overall: float, prior: float) -> None:
        self._closes, self._at, self._overall, self._prior = closes, at, overall, prior

    def __getitem__(self, key: str) -> tuple[float, float]:
        found = self._closes.get(key)
        if found is None:
            raise KeyError(key)
        times, wins = found
        n = int(np.searchsorted(times, self._at, side="left"))
        if n == 0:
            raise KeyError(key)
        return (float(wins[n]) + self._prior * self._overall) / (n + self._prior), float(n)

    def __iter__(self) -> Iterator[str]:
        return (key for key, (times, _) in self._closes.items() if times[0] < self._at)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _grouped(out: pd.DataFrame, when: np.ndarray, key: str) -> dict[str, Closes]:
    """Each `key`'s closes (rows of `out`, in time order) as text, as the tables name them."""
    values = out[key]
    known = values.notna().to_numpy()
    if not known.any():
        return {}
    won = out["won"].to_numpy(dtype=float)
    names = values[known].map(str).to_numpy()
    positions = np.flatnonzero(known)
    groups = pd.Series(positions).groupby(names, sort=False).indices
    return {
        str(name): (when[positions[i]], _running(won[positions[i]])) for name, i in groups.items()
    }


def _running(won: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(won)])


def _nanoseconds(t: pd.Timestamp) -> int:
    return int(pd.Timestamp(t).as_unit("ns").value)
