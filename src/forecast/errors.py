"""The library's exceptions. Every one carries a message a user can act on.

    ForecastError
    ├── InvalidInput          bad data or arguments (→ HTTP 422 / CLI exit 2)
    │   ├── UnknownStage      a stage name the dataset's stage set does not know
    │   ├── UnknownPeriod     a period string that is not 2017, 2017-Q3 or 2017-07
    │   └── ImportRejected    an import found problems and the user asked to reject the file
    ├── NotFound              a dataset, deal, model or key that does not exist (→ 404)
    │   └── UnknownName       a name or id the user typed that names nothing: bad input
    │       │                 (→ 404 / CLI exit 2): a model version, an API key id
    │       ├── UnknownDataset  a dataset name the store does not hold (or of another kind,
    │       │                 or none given where several could be meant)
    │       └── UnknownGroup  a team, rep or other group a request names that the dataset has
    │                         no deals for (→ 404 from the API and the dashboard alike)
    ├── OtherDataset          a key bound to one dataset asked for another (→ 403)
    ├── InsufficientHistory   too little data to train or forecast (→ 409)
    ├── ModelNotReady         no model to serve yet (→ 503)
    └── Busy                  the server is full or the store locked: retry later (→ 503 with
                              Retry-After)

The HTTP mapping lives in one place (`serving/errors.py`); the CLI prints `str(error)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forecast.data.validation import ImportReport


class ForecastError(Exception):
    """Base class: anything the library raises on purpose."""


class InvalidInput(ForecastError):
    pass


class UnknownStage(InvalidInput):
    pass


class UnclearDate(InvalidInput, ValueError):
    """Text that is no date, or not one in a form read the same way by everyone: a ValueError
    too, so a caller that names its field for a bad date (`as_of must be ...`) still does."""


class UnknownPeriod(InvalidInput):
    pass


class ImportRejected(InvalidInput):
    def __init__(self, report: ImportReport, message: str | None = None) -> None:
        self.report = report
        super().__init__(
            message
            or f"import rejected: {report.problem_count} problem(s) in {report.bad_rows} row(s); "
            "nothing was written"
        )


class NotFound(ForecastError):
    pass


class UnknownName(NotFound):
    """What a request or command names (a model version, an API key id) is not there: not
    found to the API (404), a mistake in the arguments to the CLI (exit 2, like any bad input)."""


class UnknownDataset(UnknownName):
    """The dataset a request or command names is not there (see `UnknownName`)."""


class UnknownGroup(UnknownName):
    """A team, rep, product or region a request names (`group=`, `team=`) that the dataset has
    no deals for: one rule for every route and page that filters by one (see `UnknownName`)."""


class OtherDataset(ForecastError):
    """A key bound to dataset `bound` (or a dashboard session signed in with one) named
    `dataset`: refused, so one client's key never reads or writes another's pipeline."""

    def __init__(self, bound: str, dataset: str, doing: str = "use", said: str = "") -> None:
        super().__init__(
            said
            or f"this key is bound to dataset '{bound}'; it may not {doing} dataset '{dataset}'"
        )
        self.bound = bound
        self.dataset = dataset


class InsufficientHistory(ForecastError):
    pass


class ModelNotReady(ForecastError):
    pass


class Busy(ForecastError):
    """Nothing is wrong with the request: try it again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        # None: the server's `retry_after_seconds` setting
        super().__init__(message)
        self.retry_after = retry_after
