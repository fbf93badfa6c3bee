"""How a CRM export maps onto the canonical fields: a small YAML file, validated on load.

A mapping names the main file (and small files joined to it), which column holds each canonical
field, the stage set and how raw stage names map onto it, date formats, the values that mean
"missing", and the columns that leak the outcome. Three ship with the package (see `BUILT_IN`);
a user writes their own for any other CSV or Parquet export (documented in the README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from forecast.data.stages import DEFAULT_STAGES, StageSet
from forecast.errors import InvalidInput

BUILT_IN_DIR = Path(__file__).parent / "mappings"
BUILT_IN = ("canonical", "crm_sales_opportunities", "x_education_leads")

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
LEAD_FIELDS = ("id", "converted", "created_at", "updated_at")
LEAD_REQUIRED = ("id",)
FORECAST_CATEGORIES = ("Pipeline", "Best Case", "Commit", "Omitted")


class Join(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    key: str
    loose_key: bool = Field(False, description="match keys ignoring case, spaces and dashes")


class AmountRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zero_means_missing_for: list[str] = Field(default_factory=list)
    estimate_from_list_price: bool = False
    known_before_close: bool = True


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["opportunities", "leads"]
    dataset: str = Field(min_length=1, max_length=100)
    main: str | None = None
    detect: list[str] = Field(default_factory=list)
    joins: list[Join] = Field(default_factory=list)
    history_file: str | None = None
    columns: dict[str, str] | Literal["canonical"] = Field(default_factory=dict)
    stages: dict | None = None
    stage_names: dict[str, str] = Field(default_factory=dict, description="raw name → stage")
    stage_dates: dict[str, str] = Field(default_factory=dict)
    date_format: str | None = None
    missing_values: list[str] = Field(default_factory=list)
    value_fixes: dict[str, dict[str, str]] = Field(default_factory=dict)
    drop_columns: list[str] = Field(default_factory=list)
    leak_columns: list[str] = Field(default_factory=list)
    amount: AmountRules = Field(default_factory=AmountRules)
    currency: str = Field("USD", min_length=3, max_length=3)
    rep_probability_scale: float = Field(1.0, gt=0, description="100 if the export holds percents")

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str] | str, info) -> dict[str, str] | str:  # noqa: ANN001
        if value == "canonical":
            return value
        kind = info.data.get("kind")
        allowed = OPPORTUNITY_FIELDS if kind == "opportunities" else LEAD_FIELDS
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; allowed: {list(allowed)}")
        return value

    @property
    def stage_set(self) -> StageSet:
        if self.stages is None:
            base = DEFAULT_STAGES
        else:
            base = StageSet.from_dict(self.stages)
        aliases = {**base.aliases, **self.stage_names}
        return StageSet(base.open_stages, base.won, base.lost, aliases)

    def column_map(self) -> dict[str, str]:
        """Canonical field → source column."""
        if self.columns == "canonical":
            fields = OPPORTUNITY_FIELDS if self.kind == "opportunities" else LEAD_FIELDS
            return {f: f for f in fields}
        return dict(self.columns)

    @property
    def required_fields(self) -> tuple[str, ...]:
        return OPPORTUNITY_REQUIRED if self.kind == "opportunities" else LEAD_REQUIRED

    @property
    def options(self) -> dict:
        """What later steps must know about the data (kept with the dataset in the store)."""
        return {"amount_known_before_close": self.amount.known_before_close}


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
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInput(f"mapping {path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidInput(f"mapping {path}: expected a YAML mapping of keys to values")
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidInput(f"mapping {path}: {problems}") from exc
    except InvalidInput as exc:
        raise InvalidInput(f"mapping {path}: {exc}") from exc


def detect_mapping(path: Path) -> Mapping:
    """The built-in mapping whose files are present at `path` (a folder or one of its files)."""
    folder = path if path.is_dir() else path.parent
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    for name in BUILT_IN:
        mapping = load_mapping(name)
        if mapping.detect and set(mapping.detect) <= names:
            if path.is_dir() or path.name == mapping.main:
                return mapping
    raise InvalidInput(
        f"{path}: not a format I recognise ({', '.join(BUILT_IN)}); "
        "pass --mapping with a mapping file (see the README, 'Importing your own export')"
    )
