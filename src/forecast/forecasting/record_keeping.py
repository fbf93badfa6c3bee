"""Whether a backtest's forecasts become the dataset's track record.

The record decides which method users are shown (`forecasting.choice`), so it must be the record
of that dataset's data, and as broad as the one it replaces:

- only a backtest of a **stored dataset** (`--data NAME`) is kept: a file's run is named after
  what its format calls its data (every canonical export is `pipeline`), so its record would be
  read for whichever dataset carries that name later, another company's data included;
- a **narrower run** (horizons the record has and the run lacks, or fewer than half its
  forecasts: a calendar-period run, a `--from`/`--to` slice) leaves the record as it was unless
  the user asks to replace it, since every forecast would otherwise fall back to the run rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Keeping:
    keep: bool
    reason: str


def keeping(
    table: pd.DataFrame,
    kept: pd.DataFrame,
    *,
    dataset: str | None,
    stored: bool,
    replace: bool = False,
) -> Keeping:
    """Whether `table` (the run's forecast table) replaces `kept` (the dataset's record for the
    frequency, empty when none), and why not."""
    if dataset is None or not stored:
        return Keeping(
            False,
            "track record not kept: the data came from a file, and a record belongs to a stored "
            "dataset (its name alone would tie it to whichever dataset carries that name later);"
            " import the export (`forecast import`) and backtest the dataset by name to keep one",
        )
    if replace or kept.empty:
        return Keeping(True, "")
    mine, theirs = _horizons(table), _horizons(kept)
    missing = sorted(theirs - mine)
    n_new, n_old = _forecasts(table), _forecasts(kept)
    if missing or n_new * 2 < n_old:
        what = (
            f"it lacks horizon(s) {', '.join(str(h) for h in missing)} weeks"
            if missing
            else f"it made {n_new} forecasts against the record's {n_old}"
        )
        return Keeping(
            False,
            f"track record of {dataset} kept as it was: this run is narrower ({what}); pass "
            "--replace-record to replace it",
        )
    return Keeping(True, "")


def _horizons(table: pd.DataFrame) -> set[int]:
    return {int(h) for h in table["horizon_weeks"].dropna().unique()} if len(table) else set()


def _forecasts(table: pd.DataFrame) -> int:
    """Forecasts scored: (origin, horizon, window) of ours."""
    ours = table[table["method"] == "model"]
    return len(ours.drop_duplicates(["origin", "horizon_weeks", "window"]))
