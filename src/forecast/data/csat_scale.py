"""A CSAT column's scale, and its values no satisfaction score can be.

The KPIs average CSAT as it is stored, so one value on another scale moves the average: a 70
among scores of 1–5 lifts a team's average past any score its customers gave. A survey scores
1–5 (the usual CSAT), 0–10 (or 1–10, NPS-style) or 0–100 (a percent), so:

- a value below 0 or above 100 is on no scale: a bad row, named by line and column, as any
  other value no field may hold;
- the file's scale is the smallest of those three holding nearly all its scores
  (`SCALE_SHARE`: a file of 1–5 scores with a stray 7 is still a 1–5 file), decided on the
  first chunk that has scores and said in a note;
- a score outside that scale (the stray 7, a 0 among 1–5 scores) is not kept: the deal is
  imported without it, and a note names the column, the scale and the lines.

A push (rows given as a frame, not an export file) is a few deals of no one survey: its scores
are judged alone, on no scale refused, as the API's schema refuses them. But its CRM sends the
scores of the survey its export held: the scale an export's import read is kept with the dataset
(its options' `csat_scale`, `DatasetOptions.csat_scale`), and a pushed score outside it is
refused (`hold_to_scale`), or a 9 pushed to a dataset of 1–5 scores would be averaged with them.
An import that reads no scale (no CSAT column, no scores) keeps none: pushes are then held to
0–100 only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
from sqlalchemy import select

from forecast.data import store
from forecast.data.dataset_options import DatasetOptions, options_as_read
from forecast.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from forecast.data.mapping import Mapping
    from forecast.data.stages import StageSet
    from forecast.data.validation import ImportReport

#: The scales a satisfaction score is given on: (lowest, highest), smallest first.
SCALES: tuple[tuple[float, float], ...] = ((1, 5), (0, 10), (0, 100))
#: The share of a file's scores its scale holds at least: the rest are strays outside it.
SCALE_SHARE = 0.95
#: The problem a value on no scale is.
NO_SCALE = "CSAT outside 0–100 (no satisfaction scale goes below 0 or above 100)"
#: The lines a note names at most.
SHOWN_LINES = 5
#: The dataset option holding the scale its export's scores were read on: [lowest, highest].
OPTION = "csat_scale"


def on_no_scale(values: pd.Series) -> pd.Series:
    """The scores no satisfaction scale holds (below 0, above 100); a blank is none."""
    return (values < 0) | (values > 100)


def scale_of(values: pd.Series) -> tuple[float, float] | None:
    """The smallest scale holding at least `SCALE_SHARE` of `values` (scores on some scale);
    None without any."""
    given = values.dropna()
    if given.empty:
        return None
    for low, high in SCALES:
        if given.between(low, high).mean() >= SCALE_SHARE:
            return (low, high)
    return SCALES[-1]


def shown(scale: tuple[float, float]) -> str:
    low, high = scale
    return f"{low:g}–{high:g}"


class CsatScale:
    """A file's CSAT scale once decided, and the scores outside it dropped over its chunks."""

    def __init__(self, report: ImportReport, column: str, of_file: bool = True) -> None:
        self.report, self.column = report, column
        self.of_file = of_file  # False: a push's deals, no file's survey to tell a scale by
        self.scale: tuple[float, float] | None = None
        self.dropped = 0
        self.lines: list[int] = []  # the first lines, at most SHOWN_LINES

    def read(
        self, given: pd.Series, lines: pd.Series, bad: pd.Series
    ) -> tuple[pd.Series, pd.Series]:
        """A chunk's scores without those outside the file's scale, and the mask of those on
        no scale (for the caller to report as bad rows). `bad`: the rows already bad, whose
        scores are not counted (each is reported for its own problem)."""
        no_scale = on_no_scale(given)
        if not self.of_file:  # a push: each score judged alone, as the API's schema does
            return given.where(~no_scale), no_scale
        return self._within(given.where(~no_scale), lines, ~bad & ~no_scale), no_scale

    def _within(self, values: pd.Series, lines: pd.Series, counted: pd.Series) -> pd.Series:
        """`values` (scores on some scale) without those outside the file's scale, decided on
        the first chunk with any; the dropped ones of the `counted` rows said."""
        if self.scale is None:
            self.scale = scale_of(values)
            if self.scale is None:
                return values
            self.report.note(
                f"{self.column}: CSAT read on a {shown(self.scale)} scale, as its values show; "
                "the KPIs average it as given"
            )
        low, high = self.scale
        outside = values.notna() & ~values.between(low, high)
        if not outside.any():
            return values
        said = outside & counted
        self.dropped += int(said.sum())
        room = SHOWN_LINES - len(self.lines)
        self.lines += [int(n) for n in lines[said].head(max(room, 0))]
        if self.dropped:
            more = " …" if self.dropped > len(self.lines) else ""
            self.report.restate(
                "csat outside its scale",
                f"{self.column}: {self.dropped:,} CSAT value(s) outside the file's "
                f"{shown(self.scale)} scale (line(s) {', '.join(map(str, self.lines))}{more}): "
                "not kept, the deals kept without one (a score of another survey, or a typo?)",
            )
        return values.where(~outside)


# --- the scale kept with the dataset, and a push held to it -----------------------------------


class _Import(Protocol):
    """What of an import (`importing._Job`) its dataset's record is saved from."""

    @property
    def mapping(self) -> Mapping: ...
    @property
    def dataset(self) -> str: ...
    @property
    def stages(self) -> StageSet | None: ...
    @property
    def frame(self) -> pd.DataFrame | None: ...  # None: an export file (else a push's rows)
    @property
    def csat(self) -> CsatScale | None: ...
    @property
    def columns(self) -> dict[str, str]: ...  # a field → the file's column, as matched


def with_scale(options: dict[str, Any], scale: tuple[float, float] | None) -> dict[str, Any]:
    """`options` holding `scale` as the dataset's CSAT scale (None: holding none)."""
    out = {k: v for k, v in options.items() if k != OPTION}
    if scale is not None:  # whole numbers as such: the same scale stored again is no change
        out[OPTION] = [int(v) if float(v).is_integer() else float(v) for v in scale]
    return out


def kept_scale(conn: Connection, job: _Import) -> dict[str, Any]:
    """The options the import's mapping gives its dataset, with the CSAT scale stored with it
    kept: a push reads none (it is held to the stored one), and an export's is known only once
    its rows are read (`save_read_scale`), so an unchanged export changes nothing before."""
    datasets = store.datasets
    stored = conn.execute(select(datasets.c.options).where(datasets.c.name == job.dataset)).scalar()
    return with_scale(job.mapping.options, DatasetOptions.from_dict(stored).csat_scale)


def save_read_scale(conn: Connection, job: _Import) -> None:
    """An export's CSAT scale kept with its dataset, in place of the stored one (none read: none
    kept), for its CRM's pushes to be held to; a push's rows leave the stored one as it is."""
    if job.frame is not None:
        return
    m, read = job.mapping, job.csat.scale if job.csat is not None else None
    options = with_scale(options_as_read(m, job.columns), read)
    store.save_dataset(conn, job.dataset, m.kind, job.stages, m.leak_columns, options)


def hold_to_scale(csat: object, scale: tuple[float, float] | None, at: str) -> None:
    """Refuse a pushed `csat` outside its dataset's CSAT scale (`at`: the error's prefix, the
    deal's position). No scale stored, a blank or text that is no number: left to the import
    (which holds every score to 0–100)."""
    if scale is None or csat is None or isinstance(csat, bool):
        return
    try:
        value = float(csat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    low, high = scale
    if not math.isnan(value) and not low <= value <= high:
        raise InvalidInput(
            f"{at}csat: {value:g} is outside this dataset's CSAT scale {shown(scale)} (its "
            "import read the export's scores on it); nothing was written"
        )
