"""The outcome window of dated leads: a lead's "not converted" is an outcome only once it has had
the time leads take to convert.

An export writes every lead not converted yet as 0, the one created yesterday as much as the one
a year old. Where the export says when converted leads converted (`converted_at`), the window is
the time within which 90% of them did, counted from creation; training learns "converted within
the window" from the leads created at least a window before the export, and leaves the younger
ones unlabelled (still scored). Every lead learnt from had the same time to convert, so the
score is the chance of converting within the window, and the newest leads, which the time
holdout tests on, are not counted lost for being new.

An export without conversion dates that writes its open leads as not converted can declare the
window (the mapping's `outcome_days`): the leads younger than it are then left unlabelled the
same way, and the older ones keep their outcome as the export gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.errors import InvalidInput
from forecast.features import lead_labels
from forecast.modeling.lead_dates import created_utc

#: The share of conversions the window holds.
QUANTILE = 0.9


@dataclass(frozen=True)
class OutcomeWindow:
    days: float
    export: pd.Timestamp  # the newest creation or conversion: what the export had seen
    conversions: int  # converted leads with both dates, the window measured on
    young: int  # leads created within a window of the export: left unlabelled
    later: int  # leads learnt from that converted after the window: not within it
    declared: bool = False  # given by the mapping (`outcome_days`), not measured

    @property
    def note(self) -> str:
        cut = self.export - pd.Timedelta(days=self.days)
        young = (
            f"; the {self.young:,} created since had not had that time by the export "
            f"({self.export:%Y-%m-%d}) and are scored, not learnt from"
            if self.young
            else ""
        )
        later = (
            f"; {self.later:,} that converted later count as not within it" if self.later else ""
        )
        if not self.declared:
            why = (
                f"{QUANTILE:.0%} of the {self.conversions:,} conversions with a date came "
                "within it of creation"
            )
        else:
            why = "the mapping's outcome_days"
        if self.declared and not self.conversions:  # no conversion dates: outcomes as given
            learns = f"learns the outcome the export gives from leads created by {cut:%Y-%m-%d}"
        else:
            learns = f"learns 'converted within {self.days:.0f} days' from leads created by"
            learns += f" {cut:%Y-%m-%d}"
        return f"outcome window {self.days:.0f} days ({why}): the model {learns}{young}{later}"


def outcome_window(
    leads: pd.DataFrame, min_conversions: int, days: float | None = None
) -> OutcomeWindow | None:
    """The window, where at least `min_conversions` converted leads have both dates (or as
    declared: `days`)."""
    found = windowed(leads, min_conversions, days)
    return found[0] if found is not None else None


def windowed(
    leads: pd.DataFrame, min_conversions: int, days: float | None = None
) -> tuple[OutcomeWindow, pd.Series] | None:
    """The window and the labels it gives: `converted` within it for leads old enough to tell,
    blank for younger ones (an undated lead keeps its label: its age is unknown); None where
    fewer than `min_conversions` converted leads have both dates and no window is declared
    (`days`, the mapping's `outcome_days`, which wins over the measured one)."""
    if "created_at" not in leads:
        if days is not None:
            raise InvalidInput(
                "outcome_days: the leads have no creation date (created_at) to count the "
                "window from; map the export's creation column or leave outcome_days out"
            )
        return None
    if "converted_at" not in leads and days is None:
        return None
    created = created_utc(leads["created_at"])
    if days is not None and created.isna().all():
        raise InvalidInput(
            "outcome_days: no lead has a creation date (created_at) to count the window from"
        )
    converted_at = (
        created_utc(leads["converted_at"])
        if "converted_at" in leads
        else pd.Series(pd.NaT, index=leads.index, dtype=created.dtype)
    )
    label = lead_labels(leads)
    delay = (converted_at - created).dt.total_seconds() / 86_400
    known = (label == 1) & delay.notna()
    declared = days is not None
    if days is None:
        if int(known.sum()) < min_conversions:
            return None
        days = max(float(np.quantile(delay[known].clip(lower=0), QUANTILE)), 1.0)
    seen = converted_at[converted_at <= pd.Timestamp.now()]  # not a date typed years ahead
    export = max(created.max(), seen.max()) if seen.notna().any() else created.max()
    young = created > export - pd.Timedelta(days=days)
    later = (label == 1) & (delay > days)
    window = OutcomeWindow(
        days,
        export,
        int(known.sum()),
        int(young.sum()),
        int((later & ~young).sum()),
        declared,
    )
    return window, label.where(~later, 0.0).where(~young)
