"""How a CRM export maps onto the canonical fields: a small YAML file, validated on load.

A mapping names the main file (and small files joined to it), which column holds each canonical
field (or, for an export without ids, which columns a stable id is hashed from; for a field
split over several columns, the columns whose first non-blank value it takes), the stage set
and how raw stage names map onto it, how the CSV is written (separator, encoding, decimal
mark), date formats, the values that mean "missing", how much clock skew between a deal's
creation and close to forgive, the columns that leak the outcome, and the export's own columns
kept as model inputs (`features:`, shown in reasons under the user's names). Three ship with the
package (see `BUILT_IN`); a user writes their own for any other CSV or Parquet export
(documented in the README).

Two more are presets for CRM deal exports (`PRESETS`: HubSpot, Salesforce): a mapping says
`preset: hubspot` and only what differs, or the preset is picked from the file's header
(`mapping_detect`). A preset brings the CRM's export column names, its stock stages and their
configured probabilities, and its one "Close Date" column (`close_date`): the expected close
while a deal is open, the actual close once it is won or lost. Forecast categories are
`forecast_categories`'.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from forecast.data.attributes import checked_features, feature_entries
from forecast.data.dataset_options import options_of
from forecast.data.derived_columns import ExistsIn, FirstOf, HashOf
from forecast.data.loose import loose_key as loose_key  # where the data modules import it from
from forecast.data.mapping_errors import validation_problem
from forecast.data.mapping_yaml import cells_text, read_yaml
from forecast.data.stages import DEFAULT_STAGES, StageSet
from forecast.errors import InvalidInput

BUILT_IN_DIR = Path(__file__).parent / "mappings"
PRESETS = (
    "hubspot",
    "salesforce",
    "salesforce_api",
    "salesforce_leads",
    "salesforce_leads_api",
    "canonical_leads",  # last: any file with an id and a converted column
)
BUILT_IN = ("canonical", "crm_sales_opportunities", "x_education_leads", *PRESETS)
#: Keys whose entries a mapping adds to its preset's, entry by entry; any other key replaces it.
MERGED_KEYS = (
    "columns",
    "column_aliases",
    "stage_names",
    "stage_probabilities",
    "value_fixes",
    "csv",
    "amount",
)

# Canonical opportunity fields a mapping may fill. `id` and `stage` are required.
OPPORTUNITY_FIELDS = (
    "id",
    "account",
    "owner",
    "team",
    "region",
    "product",
    "product_series",
    "list_price",
    "amount",
    "currency",
    "stage",
    "created_at",
    "closed_at",
    "updated_at",
    "expected_close_at",
    "close_date",  # one CRM column: expected_close_at while open, closed_at once won or lost
    "rep_probability",
    "forecast_category",
    "csat",
    "sector",
    "account_employees",
    "account_revenue",
    "account_country",
    "amount_estimated",
    "created_estimated",
)
OPPORTUNITY_REQUIRED = ("id", "stage")
#: A stage-history file's fields: which deal, which stage, when it was entered.
HISTORY_FIELDS = ("opportunity_id", "stage", "entered_at")
#: Tracked fields a history file may give with each row, as they stood then (`history_file`).
HISTORY_VALUE_FIELDS = ("amount", "expected_close_at", "rep_probability", "forecast_category")
LEAD_FIELDS = ("id", "converted", "created_at", "updated_at", "converted_at")
LEAD_REQUIRED = ("id",)


class Join(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    key: str
    loose_key: bool = Field(False, description="match keys ignoring case, spaces and dashes")
    file_key: str | None = Field(
        None, description="the joined file's own name for the key (default: `key`)"
    )
    prefix: str = Field(
        "", description='put before the joined file\'s column names ("Account." + "Name")'
    )
    optional: bool = Field(
        False, description="join where the file is beside the export and the key in it"
    )


class CsvOptions(BaseModel):
    """How a CSV export is written. Without a separator, the header line decides."""

    model_config = ConfigDict(extra="forbid")
    separator: str | None = Field(None, description='";" for most European spreadsheets')
    encoding: str = Field("utf-8-sig", description="utf-8 with or without a byte-order mark")
    decimal: str = Field(".", min_length=1, max_length=1)
    thousands: str | None = Field(None, min_length=1, max_length=1)

    @field_validator("separator")
    @classmethod
    def _one_separator(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f'a separator is one character (use "\\t" for tab), got {value!r}')
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, latin-1, cp1252)") from None
        return value

    @field_validator("thousands")
    @classmethod
    def _distinct_marks(cls, value: str | None, info) -> str | None:  # noqa: ANN001
        if value is not None and value == info.data.get("decimal"):
            raise ValueError(f"thousands and decimal are both {value!r}")
        return value


class AmountRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zero_means_missing_for: list[str] = Field(default_factory=list)
    estimate_from_list_price: bool = False
    known_before_close: bool = True
    #: The export writes amounts in cents (Close's `value`): each is divided by 100 at import.
    in_cents: bool = False


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["opportunities", "leads"]
    dataset: str = Field(min_length=1, max_length=100)
    preset: str | None = Field(None, description=f"one of {', '.join(BUILT_IN)}")
    main: str | None = None
    detect: list[str] = Field(default_factory=list)
    detect_columns: list[str] = Field(
        default_factory=list, description="header columns that identify this export"
    )
    optional_fields: list[str] = Field(
        default_factory=list, description="fields read only where the file has their column"
    )
    joins: list[Join] = Field(default_factory=list)
    history_file: str | None = None
    history_file_optional: bool = Field(
        False, description="read the history file where it is beside the main one (a preset's)"
    )
    history_columns: dict[str, str] = Field(
        default_factory=dict,
        description="the history file's columns for opportunity_id, stage and entered_at, "
        "where it names them otherwise (Salesforce: Opportunity ID, To Stage, Edit Date), and "
        "for the fields it gives as they stood at each row: amount, expected_close_at, "
        "rep_probability, forecast_category",
    )
    columns: dict[str, str | HashOf | FirstOf | ExistsIn] | Literal["canonical"] = Field(
        default_factory=dict
    )
    column_aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="field → other names its column goes by"
    )
    stages: dict | None = None
    stage_names: dict[str, str] = Field(default_factory=dict, description="raw name → stage")
    stage_dates: dict[str, str] = Field(default_factory=dict)
    stage_entered_columns: str | list[str] | None = Field(
        None,
        description='"Date entered {stage}": per-stage entry dates, where present (several '
        "names: each tried, in order)",
    )
    stage_duration_columns: str | None = Field(
        None,
        description='"Cumulative time in {stage} (HH:mm:ss)": per-stage time spent, where '
        "present; rebuilds the entry dates the export does not give",
    )
    stage_probabilities: dict[str, float] = Field(
        default_factory=dict, description="the probability of each stage, as the CRM sets it"
    )
    stage_probabilities_from: Literal["preset", "mapping", "estimated"] = Field(
        "mapping",
        description="where stage_probabilities came from: a preset's (the CRM's stock ones), "
        "the mapping's own, or estimated from the data (a drafted mapping's)",
    )
    date_format: str | list[str] | None = Field(
        None,
        description='strptime format of the dates ("%m/%d/%Y"), or several tried in order '
        '(["%m/%d/%Y %I:%M %p", "%m/%d/%Y"]: date-time columns beside date-only ones); '
        "default ISO 8601",
    )
    missing_values: list[str] = Field(default_factory=list)
    value_fixes: dict[str, dict[str, str]] = Field(default_factory=dict)
    skip_rows: dict[str, list[str]] = Field(
        default_factory=dict,
        description="column → values (ignoring case and spaces) whose rows are left out of "
        "the import, in any file that has the column (Salesforce: {IsDeleted: [true]})",
    )
    keep_rows: dict[str, list[str]] = Field(
        default_factory=dict,
        description="column → values (ignoring case and spaces): only the rows holding one of "
        "them are imported, in any file that has the column; the others are left out and "
        "counted (one pipeline of several: {Pipeline: [Sales]})",
    )
    drop_columns: list[str] = Field(default_factory=list)
    leak_columns: list[str] = Field(default_factory=list)
    amount: AmountRules = Field(default_factory=AmountRules)
    currency: str = Field("USD", min_length=3, max_length=3)
    exchange_rates: dict[str, float] = Field(
        default_factory=dict,
        description="{EUR: 1.08}: one EUR is 1.08 of `currency`; deals in those currencies are "
        "imported with their amounts converted",
    )
    rep_probability_scale: float = Field(1.0, gt=0, description="100 if the export holds percents")
    outcome_days: float | None = Field(
        None,
        gt=0,
        le=3650,
        description="leads: the days a lead takes to convert; leads created fewer days than "
        "this before the export are scored, not learnt from (for an export that writes its "
        "open leads as not converted; measured from conversion dates where there are any)",
    )
    csv: CsvOptions = Field(default_factory=CsvOptions)
    clock_skew_tolerance: str = Field(
        "1 day", description="a close this much before creation is read as a close at creation"
    )
    features: dict[str, str] = Field(
        default_factory=dict,
        description="the export's own columns kept as model inputs: [column, ...], or "
        "{column: label} to show them in reasons under another name",
    )

    @model_validator(mode="before")
    @classmethod
    def _with_preset(cls, data: Any) -> Any:
        """A mapping naming a preset: the preset's keys, overridden by the mapping's own."""
        if isinstance(data, dict) and data.get("preset") is not None:
            return with_preset(data)
        return data

    @field_validator("value_fixes", "missing_values", "skip_rows", "keep_rows", mode="before")
    @classmethod
    def _cells(cls, value: Any) -> Any:
        return cells_text(value)

    @field_validator("keep_rows")
    @classmethod
    def _something_kept(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for column, values in value.items():
            if not [v for v in values if str(v).strip()]:
                raise ValueError(f"{column!r}: name the values whose rows are kept")
        return value

    @field_validator("history_columns")
    @classmethod
    def _history_fields(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = [*HISTORY_FIELDS, *HISTORY_VALUE_FIELDS]
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"{unknown} are not history fields; they are {allowed}")
        return value

    @field_validator("exchange_rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        out = {}
        for code, rate in value.items():
            if len(code) != 3 or not code.isalpha():
                raise ValueError(f"{code!r} is not a 3-letter currency code")
            if not 0 < rate < float("inf"):
                raise ValueError(f"{code}: a rate is a positive number, got {rate!r}")
            out[code.upper()] = float(rate)
        return out

    @field_validator("date_format")
    @classmethod
    def _formats(cls, value: str | list[str] | None) -> str | list[str] | None:
        formats = [value] if isinstance(value, str) else value or []
        if isinstance(value, list) and not value:
            raise ValueError("give at least one format, or leave date_format out for ISO 8601")
        for fmt in formats:
            if "%" not in fmt:
                raise ValueError(f'{fmt!r} is not a strptime format (e.g. "%d/%m/%Y")')
        return value

    @property
    def date_formats(self) -> list[str]:
        """The formats dates are read with, in order (ISO 8601 when the mapping gives none)."""
        if self.date_format is None:
            return ["ISO8601"]
        return [self.date_format] if isinstance(self.date_format, str) else self.date_format

    @property
    def entered_patterns(self) -> list[str]:
        """The names of the per-stage entry-date columns, in the order they are tried."""
        given = self.stage_entered_columns
        return [] if given is None else [given] if isinstance(given, str) else list(given)

    @field_validator("stage_entered_columns", "stage_duration_columns")
    @classmethod
    def _a_pattern(cls, value: str | list[str] | None) -> str | list[str] | None:
        for pattern in [value] if isinstance(value, str) else value or []:
            if "{stage}" not in pattern:
                raise ValueError(f"give a column name with {{stage}} in it, got {pattern!r}")
        return value

    @field_validator("stage_probabilities", mode="before")
    @classmethod
    def _no_probability(cls, value: Any) -> Any:
        """A stage given `null` has no configured probability (it drops a preset's)."""
        if isinstance(value, dict):
            return {stage: p for stage, p in value.items() if p is not None}
        return value

    @field_validator("stage_probabilities")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        outside = {s: p for s, p in value.items() if not 0 <= p <= 1}
        if outside:
            raise ValueError(f"probabilities are from 0 to 1, got {outside}")
        return value

    @field_validator("columns", mode="before")
    @classmethod
    def _column_entries(cls, value: Any) -> Any:
        """Each entry is a column name, `{hash_of: [names]}` (id), `{first_of: [names]}` or
        `{exists_in: ...}` (converted), said in one message (pydantic would list every way the
        union could not match)."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        for field_, source in value.items():
            if isinstance(source, str):
                continue
            if isinstance(source, dict) and set(source) == {"exists_in"}:
                if field_ != "converted":
                    raise ValueError(f"{field_}: only converted can be exists_in")
                if not isinstance(source["exists_in"], dict):
                    raise ValueError(
                        "converted: exists_in takes {file: ..., column: ..., where: {...}}"
                    )
                value[field_] = ExistsIn(**source["exists_in"])
                continue
            key = next(iter(source), None) if isinstance(source, dict) else None
            names = source.get(key) if isinstance(source, dict) and len(source) == 1 else None
            ok = isinstance(names, list) and names and all(isinstance(n, str) for n in names)
            if not ok or not isinstance(names, list) or key not in ("hash_of", "first_of"):
                raise ValueError(
                    f"{field_}: give a column name, {{first_of: [column, ...]}} (the first of "
                    "them not blank), {hash_of: [column, ...]} (id) or "
                    f"{{exists_in: {{file, column}}}} (converted); got {source!r}"
                )
            if key == "first_of":
                if len(set(names)) != len(names):
                    raise ValueError(f"{field_}: first_of names a column twice: {names}")
                value[field_] = FirstOf(first_of=names)
        return value

    @field_validator("columns")
    @classmethod
    def _known_fields(
        cls,
        value: dict[str, str | HashOf | FirstOf | ExistsIn] | str,
        info,  # noqa: ANN001
    ) -> dict[str, str | HashOf | FirstOf | ExistsIn] | str:
        if value == "canonical" or isinstance(value, str):
            return value
        kind = info.data.get("kind")
        allowed = OPPORTUNITY_FIELDS if kind == "opportunities" else LEAD_FIELDS
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; allowed: {list(allowed)}")
        hashed = sorted(f for f, c in value.items() if isinstance(c, HashOf) and f != "id")
        if hashed:
            raise ValueError(f"only id can be a hash_of, not {hashed}")
        return value

    @field_validator("features", mode="before")
    @classmethod
    def _feature_entries(cls, value: Any) -> Any:
        return feature_entries(value)

    @model_validator(mode="after")
    def _features_apart(self) -> Mapping:
        """Features named apart from the canonical fields (`attributes.checked_features`)."""
        if self.features:
            fields = OPPORTUNITY_FIELDS if self.kind == "opportunities" else LEAD_FIELDS
            read = self.column_map() | {  # a first_of field's columns fill it too
                f"{f} (first_of {i})": c
                for f, rule in self.combined_columns.items()
                for i, c in enumerate(rule.first_of, 1)
            }
            self.features = checked_features(self.features, self.kind, fields, read)
        if self.outcome_days is not None and self.kind != "leads":
            raise ValueError("outcome_days is for leads; deals close with a date of their own")
        return self

    @property
    def feature_labels(self) -> dict[str, str]:
        """Each feature's name (what it is stored, pushed and shown as) → its column."""
        return {label: column for column, label in self.features.items()}

    @field_validator("clock_skew_tolerance")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        try:
            length = pd.Timedelta(value)
        except (ValueError, TypeError):
            raise ValueError(
                f"{value!r} is not a duration (e.g. '1 day', '6 hours', '0')"
            ) from None
        if pd.isna(length) or length < pd.Timedelta(0):
            raise ValueError(f"{value!r}: give a duration of zero or more")
        return value

    @property
    def clock_skew(self) -> pd.Timedelta:
        return pd.Timedelta(self.clock_skew_tolerance)

    @property
    def generated_id(self) -> HashOf | None:
        """How the id is generated, when the export has no id column."""
        if isinstance(self.columns, dict) and isinstance(self.columns.get("id"), HashOf):
            return self.columns["id"]  # type: ignore[return-value]
        return None

    @property
    def combined_columns(self) -> dict[str, FirstOf]:
        """Fields read from the first non-blank of several columns (`first_of`), by field."""
        if not isinstance(self.columns, dict):
            return {}
        return {f: c for f, c in self.columns.items() if isinstance(c, FirstOf)}

    @property
    def derived_label(self) -> ExistsIn | None:
        """How the lead label is derived from another file, when the export has none."""
        if isinstance(self.columns, dict) and isinstance(self.columns.get("converted"), ExistsIn):
            return self.columns["converted"]  # type: ignore[return-value]
        return None

    @property
    def stage_set(self) -> StageSet:
        if self.stages is None:
            base = DEFAULT_STAGES
        else:
            base = StageSet.from_dict(self.stages)
        aliases = {**base.aliases, **self.stage_names}
        return StageSet(base.open_stages, base.won, base.lost, aliases)

    def column_map(self) -> dict[str, str]:
        """Canonical field → source column (a generated id → the name it goes by)."""
        if self.columns == "canonical":
            fields = OPPORTUNITY_FIELDS if self.kind == "opportunities" else LEAD_FIELDS
            return {f: f for f in fields}
        return {f: c if isinstance(c, str) else c.column_name for f, c in self.columns.items()}

    @property
    def required_fields(self) -> tuple[str, ...]:
        return OPPORTUNITY_REQUIRED if self.kind == "opportunities" else LEAD_REQUIRED

    def _pushed_value_fixes(self) -> dict[str, dict[str, str]]:
        """The `value_fixes` of the columns a pushed deal's text fields come from, by field: a
        CRM pushes the values its export holds ("technolgy"), fixed as the import fixed them."""
        if self.kind != "opportunities":
            return {}
        source = self.column_map()
        return {
            f: dict(self.value_fixes[source[f]])
            for f in PUSHED_TEXT_FIELDS
            if f in source and source[f] in self.value_fixes
        }

    @property
    def options(self) -> dict:
        """What later steps must know about the data, kept with the dataset in the store."""
        return options_of(self)


#: The fields a pushed deal carries whose values an import's `value_fixes` may fix (text).
PUSHED_TEXT_FIELDS = (
    "owner", "team", "region", "product", "product_series", "account", "sector",
    "account_country",
)  # fmt: skip


def with_preset(raw: dict[str, Any]) -> dict[str, Any]:
    """A mapping's keys over its preset's: `columns`, `stage_names` and the other `MERGED_KEYS`
    entry by entry (`value_fixes` value by value within a column), any other key whole. A
    column the mapping names itself is required even where the preset reads it if present."""
    name = raw.get("preset")
    if name not in BUILT_IN:  # any built-in, amended: the X Education data saved with ";"
        raise InvalidInput(f"unknown preset {name!r}; accepted: {', '.join(BUILT_IN)}")
    preset = read_yaml(BUILT_IN_DIR / f"{name}.yaml")
    merged = {**preset, **raw}
    if raw.get("stage_probabilities") and "stage_probabilities_from" not in raw:
        merged["stage_probabilities_from"] = "mapping"  # the mapping's own beat the preset's
    for key in MERGED_KEYS:
        mine, theirs = raw.get(key), preset.get(key)
        if isinstance(mine, dict) and isinstance(theirs, dict):
            merged[key] = {**theirs, **mine}
    if isinstance(own := raw.get("csv"), dict) and "decimal" in own and "thousands" not in own:
        merged["csv"] = {**merged["csv"], "thousands": None}  # not the preset's locale's mark
    for column, fixes in (raw.get("value_fixes") or {}).items():  # a status added to the preset's
        if isinstance(fixes, dict) and isinstance(preset.get("value_fixes", {}).get(column), dict):
            merged["value_fixes"][column] = {**preset["value_fixes"][column], **fixes}
    if isinstance(raw.get("stages"), dict):
        _for_own_stages(raw, preset, merged)
    if "history_file" in raw:  # a history file the mapping names itself must be there
        merged["history_file_optional"] = bool(raw.get("history_file_optional", False))
    if "optional_fields" not in raw:
        named = set(raw["columns"]) if isinstance(raw.get("columns"), dict) else set()
        merged["optional_fields"] = [f for f in preset.get("optional_fields", []) if f not in named]
    return merged


def _for_own_stages(raw: dict[str, Any], preset: dict[str, Any], merged: dict[str, Any]) -> None:
    """A mapping listing its own stages replaces the preset's stock ones: the preset's
    probabilities and other stage names of stages no longer listed are dropped (they would be
    unknown stages), those of stages still listed kept, and the mapping's own beat both."""
    # Outcomes not restated are the preset's (a Salesforce mapping listing its own open stages
    # still closes deals as Closed Won / Closed Lost).
    given_stock = preset.get("stages")
    stock: dict[str, Any] = given_stock if isinstance(given_stock, dict) else {}
    stages = {**{k: stock[k] for k in ("won", "lost") if k in stock}, **raw["stages"]}
    merged["stages"] = stages
    names = [*(stages.get("open") or []), stages.get("won", "Won"), stages.get("lost", "Lost")]
    listed = {str(name).strip().casefold() for name in names}
    given = raw.get("stage_names")
    own_names: dict[Any, Any] = given if isinstance(given, dict) else {}

    def still_listed(stage: Any) -> bool:
        target = own_names.get(stage, stage)
        return str(target).strip().casefold() in listed

    for key in ("stage_probabilities", "stage_names"):
        theirs, mine = preset.get(key) or {}, raw.get(key)
        if key == "stage_names":  # an other name is kept where the stage it names is listed
            kept = {alias: stage for alias, stage in theirs.items() if still_listed(stage)}
        else:
            kept = {stage: p for stage, p in theirs.items() if still_listed(stage)}
        merged[key] = {**kept, **mine} if isinstance(mine, dict) else mine or kept


def load_mapping(name_or_path: str | Path) -> Mapping:
    """A built-in mapping by name, or a YAML file by path; errors name the field that is wrong."""
    path = Path(name_or_path)
    if str(name_or_path) in BUILT_IN:
        path = BUILT_IN_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise InvalidInput(
            f"mapping {str(name_or_path)!r} is neither a built-in ({', '.join(BUILT_IN)}) "
            "nor a YAML file"
        )
    try:
        raw = read_yaml(path)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"mapping {path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidInput(f"mapping {path}: expected a YAML mapping of keys to values")
    # Without `dataset:`, the data is stored under the mapping file's name, a preset's mapping's
    # too (`acme.yaml` naming `preset: salesforce` stores as "acme": two companies' mappings of
    # one CRM keep apart, and a dataset imported before keeps its name); `--dataset` wins.
    raw.setdefault("dataset", path.stem)
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(validation_problem(err, Mapping) for err in exc.errors())
        raise InvalidInput(f"mapping {path}: {problems}") from exc
    except InvalidInput as exc:
        raise InvalidInput(f"mapping {path}: {exc}") from exc
