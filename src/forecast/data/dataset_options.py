"""What an import keeps with its dataset in the store besides the rows: how later steps must
read the data (amount rules, stage probabilities and where they came from, features) and how a
CRM's later pushes and scoring requests are to be read as the import read its export. Written
from the mapping (`options_of`), read back typed (`DatasetOptions.from_dict`): every reader of
a stored dataset's options reads them there, so an option is read one way wherever it is used.
The CSAT scale is not the mapping's: the import adds the one it read (`csat_scale.OPTION`)."""

from __future__ import annotations

from collections.abc import Mapping as Options
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forecast.errors import InvalidInput

if TYPE_CHECKING:
    from forecast.data.mapping import Mapping
    from forecast.data.reading import Notation


def options_of(m: Mapping) -> dict[str, Any]:
    """The dataset's options from its mapping: the stage probabilities by canonical stage, with
    where they came from (a preset's, the mapping's, estimated from the data), where given."""
    options: dict[str, Any] = {"amount_known_before_close": m.amount.known_before_close}
    if m.stage_probabilities:
        stages = m.stage_set
        unknown = [s for s in m.stage_probabilities if not stages.is_known(s)]
        if unknown:
            raise InvalidInput(
                f"stage_probabilities: unknown stage(s) {unknown}; "
                f"the stages are {list(stages.all_stages)}"
            )
        options["stage_probabilities"] = {
            stages.canonical(s): p for s, p in m.stage_probabilities.items()
        }
        options["stage_probabilities_from"] = m.stage_probabilities_from
    if m.features:
        options["features"] = list(m.feature_labels)
    created = m.columns.get("created_at") if isinstance(m.columns, dict) else None
    if m.kind == "leads" and isinstance(created, str) and created != "created_at":
        # a CRM scores a lead under the export's own name for it
        options["created_at_column"] = created
    # A CRM sends values as its export writes them: the API reads them the same way.
    if m.csv.decimal != "." or m.csv.thousands:
        options["numbers"] = {"decimal": m.csv.decimal, "thousands": m.csv.thousands}
    fixes = m._pushed_value_fixes()
    if fixes:  # a CRM's pushes are fixed as the import was
        options["value_fixes"] = fixes
    if m.kind == "leads" and m.date_format is not None:  # a scored lead's date
        options["date_formats"] = list(m.date_formats)
    if m.kind == "opportunities":  # a pushed deal is in the import's currency
        options["currency"] = m.currency.upper()
    if m.exchange_rates:  # a CRM's later pushes are converted as the import was
        options["exchange_rates"] = dict(m.exchange_rates)
    if m.rep_probability_scale != 1:  # a CRM sends the rep's call on the export's scale
        options["rep_probability_scale"] = m.rep_probability_scale
    if m.outcome_days is not None:  # every retrain of the dataset leaves its young leads out
        options["outcome_days"] = m.outcome_days
    return options


def options_as_read(m: Mapping, columns: Options[str, str]) -> dict[str, Any]:
    """The dataset's options (`options_of`) with a lead's creation date under the column the
    file held, matched to the mapping's by case and spaces or by an alias ("Created Date" for a
    Salesforce report's "Create Date"): the name its CRM sends the date under."""
    options = options_of(m)
    created = columns.get("created_at")
    if "created_at_column" in options and created:  # a column the mapping names, not one made
        options["created_at_column"] = created
    return options


@dataclass(frozen=True)
class DatasetOptions:
    """How a dataset's export is to be read: in time (training, histories) and in the values
    a CRM sends and the API writes (scoring, reasons)."""

    #: False where the export gives amounts only at close (open: the list price, estimated).
    amount_known_before_close: bool = True
    #: Each stage's probability, as (stage, probability) pairs (empty where none is given), and
    #: where they came from: "preset" (the CRM's), "mapping" or "estimated" (from the data).
    stage_probabilities: tuple[tuple[str, float], ...] = ()
    stage_probabilities_from: str = "mapping"
    #: The dataset's own columns kept as model inputs (its mapping's `features:`), by name.
    features: tuple[str, ...] = ()
    rep_probability_scale: float = 1.0  # 100 where the export (and so a CRM) writes percents
    #: How the export writes numbers (decimal mark, thousands mark or None); None where the
    #: dataset has no notation of its own (the mapping's `csv: decimal/thousands`).
    notation: Notation = None
    #: The date formats of a leads dataset's mapping (`date_format`), ISO 8601 left out: every
    #: reader tries it first anyway.
    date_formats: tuple[str, ...] = ()
    #: The outcome window a leads dataset's mapping declared (`outcome_days`), if any.
    outcome_days: float | None = None
    #: A leads dataset's own column for the creation date; None where it is `created_at`.
    created_at_column: str | None = None
    #: The import's `value_fixes` of the text fields a CRM pushes, by field, as (field,
    #: ((value, fixed), ...)) pairs: a push is fixed as the export was.
    value_fixes: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    #: The currency a deal dataset's amounts are in, and the rates (currency, rate) the import
    #: converted other currencies at: a push is converted as the export was.
    currency: str = "USD"
    exchange_rates: tuple[tuple[str, float], ...] = ()
    #: The CSAT scale (lowest, highest) the export's scores were read on, which a push is held
    #: to (`forecast.data.csat_scale`); None where the import read none (no CSAT column).
    csat_scale: tuple[float, float] | None = None

    @classmethod
    def from_dict(cls, data: Options[str, Any] | None) -> DatasetOptions:
        """The options as `options_of` stored them (none given: the defaults)."""
        data = data or {}
        given = data.get("stage_probabilities") or {}
        numbers = data.get("numbers") or {}
        days = data.get("outcome_days")
        created = data.get("created_at_column")
        fixes = data.get("value_fixes") or {}
        scale = data.get("csat_scale")
        return cls(
            amount_known_before_close=bool(data.get("amount_known_before_close", True)),
            stage_probabilities=tuple((str(s), float(p)) for s, p in given.items()),
            stage_probabilities_from=str(data.get("stage_probabilities_from") or "mapping"),
            features=tuple(str(f) for f in data.get("features") or ()),
            rep_probability_scale=float(data.get("rep_probability_scale") or 1.0),
            notation=(
                (str(numbers["decimal"]), numbers.get("thousands") or None)
                if numbers.get("decimal")
                else None
            ),
            date_formats=tuple(str(f) for f in data.get("date_formats") or () if f != "ISO8601"),
            outcome_days=None if days is None else float(days),
            created_at_column=str(created) if created else None,
            value_fixes=tuple((str(f), tuple(dict(v).items())) for f, v in fixes.items()),
            currency=str(data.get("currency") or "USD"),
            exchange_rates=tuple(dict(data.get("exchange_rates") or {}).items()),
            csat_scale=(float(scale[0]), float(scale[1])) if scale else None,
        )
