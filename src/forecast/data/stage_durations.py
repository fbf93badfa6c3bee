"""Stage entries rebuilt from the time a deal spent in each stage, where an export gives that
("Cumulative time in <stage>", as H:mm:ss) rather than the dates stages were entered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from forecast.data.stages import StageSet
    from forecast.data.validation import ImportReport


def entries_from_durations(
    opps: pd.DataFrame,
    raw: pd.DataFrame,
    stages: StageSet | None,
    durations: dict[str, str],
    report: ImportReport,
) -> dict:
    """Per open stage, when each deal entered it, rebuilt from the time it spent in each
    stage ("Cumulative time in <stage>"): creation, then each stage passed through (a time
    given, or the current one) in pipeline order, entered after the time spent in the stage
    before. Exact for a deal that moved forward; a deal that went back has its visits summed."""
    if not durations or stages is None:
        return {}
    entered = opps["created_at"].astype("datetime64[us]")
    out = {}
    unreadable = 0
    for stage in stages.open_stages:
        column = durations.get(stage)
        spent = seconds(raw[column]) if column is not None else pd.Series(np.nan, opps.index)
        if column is not None:
            given = raw[column].notna() & (raw[column].astype("str").str.strip() != "")
            unreadable += int((given & spent.isna()).sum())
        passed = spent.notna() | (opps["stage"] == stage)
        out[stage] = entered.where(passed)
        entered = entered + pd.to_timedelta(spent.fillna(0), unit="s")
    if unreadable:
        report.notes.append(
            f"{unreadable} time(s) in stage not read as H:mm:ss: those stages are undated"
        )
    return out


def seconds(text: pd.Series) -> pd.Series:
    """Durations written H:mm:ss (hours past 24 allowed, fractions of a second dropped) as
    seconds; NaN where blank or unreadable."""
    parts = text.astype("str").str.strip().str.extract(r"^(\d+):(\d{1,2}):(\d{1,2})(?:\.\d+)?$")
    hours, minutes, secs = (parts[i].astype(float) for i in range(3))
    return (hours * 3600 + minutes * 60 + secs).where(text.notna())
