"""Request and response models, named by role. Plain Python types only (no numpy or pandas)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

from forecast.data.forecast_categories import canonical_forecast_category
from serving.edge_values import (  # noqa: F401 - also named here: `schemas.Name` etc.
    DATE_SKEW,
    MAX_NUMBER,
    NOT_IN_NAMES,
    NOT_IN_TEXT,
    Amount,
    Csat,
    DealDateTime,
    GroupName,
    Name,
    Number,
    PastDateTime,
    RepProbability,
    ShortGroupName,
    StageName,
    UtcDateTime,
    as_utc,
    free_text,
    sane_value,
    single_line,
)

# --- the same rules, checked by pydantic's core alone -------------------------------------------
# A lead is read on the hot route, and its lane (serving/lead_lane.py) reads it with the same
# model straight from the body's bytes: its names and values are checked by constraints pydantic
# checks itself, no Python function called per key and value (that was two thirds of the time
# validating a lead took). Each kind of problem is one error naming the field, worded here.


@dataclass(frozen=True)
class Refusal:
    """Whatever the checks before it refuse is one error, of type `kind`, saying `message`
    (in place of one error per member of a union, or pydantic's own wording)."""

    kind: str
    message: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.custom_error_schema(
            handler(source), self.kind, custom_error_message=self.message
        )


@dataclass(frozen=True)
class Then:
    """Once a value passes the checks before it, it is checked as `rules` too (a type, with its
    own `Refusal`): a second kind of problem gets its own error."""

    rules: Any

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.chain_schema([handler(source), handler.generate_schema(self.rules)])


#: A name: text on one line, no control character (nor a lone surrogate: no pattern matches
#: one). Every refusal is this one error: fit for a JSON object's names, which are always text.
#: (Its spec is plain text: as a dict's key, a pattern would make the dict `patternProperties`,
#: which admit any other name.)
OneLine = Annotated[
    str,
    StringConstraints(pattern=f"^[^{NOT_IN_NAMES}]*$"),
    Refusal(
        "control_character",
        "contains a control character (U+0000 to U+001F: NUL, tab, a line break, escape, ...) "
        "or a lone surrogate (half of a character, which UTF-8 text cannot hold); names and ids "
        "take neither",
    ),
    WithJsonSchema({"type": "string"}),
]

#: A lead field's value as sent: text without control characters but tab and line breaks, a
#: boolean, or a finite number within ±MAX_NUMBER. Strict: each JSON type is read as itself (an
#: integer stays one). One union checked in one pass, so one error for any bad value, saying
#: all a value may be (a second pass, to give bad text a message of its own, cost the lane 5-10%
#: of its validation). `FieldValueIn` states the same rules in Python, for the other models.
LeadValue = Annotated[
    Annotated[str, Strict(), StringConstraints(pattern=f"^[^{NOT_IN_TEXT}]*$")]
    | Annotated[float, Strict(), Field(ge=-MAX_NUMBER, le=MAX_NUMBER, allow_inf_nan=False)]
    | Annotated[int, Strict(), Field(ge=-int(MAX_NUMBER), le=int(MAX_NUMBER))]
    | Annotated[bool, Strict()],
    Refusal(
        "field_value",
        "must be text, true, false, null or a finite number between -1e15 and 1e15 (Infinity, "
        "NaN and larger numbers cannot be scored); text may hold no control character but tab "
        "and line breaks (U+0000 to U+001F: NUL, escape, ...) and no lone surrogate (half of a "
        "character, which UTF-8 text cannot hold)",
    ),
]

Role = Literal["scorer", "viewer", "admin"]


class KeyCreateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"role": "scorer", "name": "Salesforce production"}]},
    )
    role: Role
    name: Name = Field(min_length=1, max_length=200, description="Who holds the key")
    dataset: Name | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Bind the key to one dataset: it scores, pushes to and reads that dataset "
        "only, by default (a dataset in the store or one with a champion)",
    )


class KeyInfo(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str = Field(description="The key's first characters, to recognise it")
    dataset: str | None = Field(None, description="The one dataset the key may use (null: any)")
    created_at: UtcDateTime = Field(description="When the key was made (UTC)")
    revoked_at: UtcDateTime | None = Field(
        None, description="When the key was revoked (UTC); null while it works"
    )


class KeyCreated(KeyInfo):
    key: str = Field(description="The key itself: shown this once, store it now")


# --- scoring ------------------------------------------------------------------------------------

FieldValue = str | float | int | bool | None
#: A lead field's value as sent: finite, bounded numbers and text without control characters.
#: A value of another type (an object, a list) is one error naming the field, not one per
#: member of the union with the member's type in its path (`attributes.x.str`, `.float`...).
FieldValueIn = Annotated[
    FieldValue,
    Refusal("field_value", "must be text, true, false, null or a number (not an object or a list)"),
    AfterValidator(sane_value),
]


class ReasonOut(BaseModel):
    field: str = Field(description="The user's own field name")
    value: FieldValue = None
    contribution: float = Field(description="Effect on the log-odds: > 0 raises the score")
    sentence: str


class ScoreResponse(BaseModel):
    id: str | None = None
    probability: float = Field(ge=0, le=1)
    score: int = Field(ge=0, le=100, description="The probability as 0–100")
    grade: Literal["A", "B", "C", "D"] | None = Field(
        description="A–D; null when one rate scores all (no model yet: leads' base rate), see notes"
    )
    reasons_for: list[ReasonOut]
    reasons_against: list[ReasonOut]
    model: str
    version: str | None = Field(description="Registry version; null for a fallback")
    method: Literal["model", "stage_win_rate", "base_rate"]
    label: str = Field(description="What scored this, in words (says so when it is a fallback)")
    dataset: str | None = Field(
        description="The dataset whose model scored this (each dataset has its own models)"
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What the score could not use, said: a field name read as the model's own "
        "spelling, fields the model does not read (ignored), a value scored as blank (text in a "
        "number field, a value never learnt in training); for a deal, an age or time in stage "
        "beyond any open deal the model learnt from; why a score has no grade; else empty",
    )


LEAD_EXAMPLE = {
    "id": "lead-123",
    "fields": {
        "Lead Origin": "Landing Page Submission",
        "Lead Source": "Reference",
        "TotalVisits": 4,
        "Total Time Spent on Website": 910,
        "Page Views Per Visit": 2.5,
        "What is your current occupation": "Working Professional",
        "Country": "India",
    },
}


def _id_as_text(value: str | int) -> str:
    """A CRM's numeric id (HubSpot's "Record ID" and deal ids, Marketo's "Id") as the text the
    store keeps every id as, so `7` and `"7"` are the same lead or deal."""
    return value if isinstance(value, str) else str(value)


_TEXT_OR_WHOLE = Annotated[str, Strict()] | Annotated[int, Strict()]
_ID_TYPE = Refusal("id_type", "must be text or a whole number (a numeric id is read as its text)")

#: A lead's or a scored deal's id: text or a whole number (read as its text), then `OneLine`,
#: then at most 200 characters (a spec shows a chain's first step only: the length is stated).
RecordId = Annotated[
    _TEXT_OR_WHOLE,
    _ID_TYPE,
    AfterValidator(_id_as_text),
    Then(OneLine),
    Then(Annotated[str, StringConstraints(max_length=200)]),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 200}, {"type": "integer"}]}),
]
#: A deal's id as a CRM pushes it: the same, 1 to 100 characters.
DealId = Annotated[
    _TEXT_OR_WHOLE,
    _ID_TYPE,
    AfterValidator(_id_as_text),
    Then(OneLine),
    Then(Annotated[str, StringConstraints(min_length=1, max_length=100)]),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 100}, {"type": "integer"}]}
    ),
]


class LeadScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [LEAD_EXAMPLE]})
    id: RecordId | None = Field(None, description="Your id, echoed back")
    fields: dict[OneLine, LeadValue | None] = Field(
        description="The lead's fields by the names used in training (case, accents, spaces "
        "and underscores aside); unknown fields are ignored and said in the score's notes, "
        "missing ones are scored as blank",
        max_length=500,
    )


class LeadBatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"leads": [LEAD_EXAMPLE]}]}
    )
    leads: list[LeadScoreRequest] = Field(min_length=1)


def _forecast_category(value: object) -> object:
    """Other CRMs' labels ("best_case", HubSpot's "Not forecasted") read as the canonical ones,
    as an import reads them; anything else is refused naming the accepted values."""
    if isinstance(value, str):
        return canonical_forecast_category(value) or value
    return value


ForecastCategory = Annotated[
    Literal["Pipeline", "Best Case", "Commit", "Omitted"], BeforeValidator(_forecast_category)
]


DEAL_EXAMPLE = {
    "id": "deal-42",
    "stage": "Engaging",
    "created_at": "2017-10-02",
    "amount": 5000.0,
    "product": "GTX Pro",
    "owner": "Darcel Schlecht",
    "account": "Isdom",
    "sector": "medical",
}


#: A deal's own columns by name: the dataset's mapping's `features:` (others are refused).
Attributes = Annotated[
    dict[Name, FieldValueIn],
    Field(
        max_length=100,
        description="The dataset's own columns kept as model inputs (its mapping's features:), "
        "by name; a name it does not keep is refused",
    ),
]


class DealNames(BaseModel):
    """The names a deal is grouped by, as a score request and a push send them (`GroupName`:
    spaces around a name are not part of it)."""

    owner: GroupName = Field(None, description="The rep")
    team: GroupName = None
    region: ShortGroupName = None
    product: GroupName = None
    product_series: ShortGroupName = None
    account: GroupName = None
    sector: ShortGroupName = None
    account_country: ShortGroupName = None


class DealScoreRequest(DealNames):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [DEAL_EXAMPLE]})
    id: RecordId | None = Field(None, description="Your id, echoed back")
    stage: StageName = Field(min_length=1, max_length=100, description="A stage of the dataset")
    created_at: PastDateTime | None = None
    stage_entered_at: PastDateTime | None = Field(None, description="Default: created_at")
    amount: Amount | None = None
    list_price: Amount | None = None
    account_employees: Amount | None = None
    account_revenue: Amount | None = None
    attributes: Attributes | None = None
    # What a CRM pushes besides (`OpportunityState`), checked as there: none is an input of the
    # deal model, so each is ignored and said so in the score's notes (routes/scores.py).
    updated_at: DealDateTime | None = None
    closed_at: DealDateTime | None = None
    expected_close_at: DealDateTime | None = None
    currency: Name | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    rep_probability: RepProbability | None = None
    forecast_category: ForecastCategory | None = None
    csat: Csat | None = None

    @model_validator(mode="after")
    def _stage_entered_after_creation(self) -> DealScoreRequest:
        created, entered = self.created_at, self.stage_entered_at
        if created is not None and entered is not None and as_utc(entered) < as_utc(created):
            out_of_order(
                "stage_entered_at",
                entered,
                f"stage_entered_at ({entered.isoformat()}) is before created_at "
                f"({created.isoformat()}): a deal enters its stage once it exists",
            )
        _created_first(self, created)
        return self


class DealBatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"deals": [DEAL_EXAMPLE]}]}
    )
    deals: list[DealScoreRequest] = Field(min_length=1)


class BatchScoreResponse(BaseModel):
    scores: list[ScoreResponse]


class ServedModelOut(BaseModel):
    kind: Literal["leads", "deals"]
    dataset: str | None = Field(None, description="The dataset this model scores")
    name: str
    version: str | None
    source: Literal["registry", "local copy", "fallback"]
    method: Literal["model", "stage_win_rate", "base_rate"]
    label: str
    trained_at: UtcDateTime | None = None
    holdout: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Holdout metrics of the model and each baseline"
    )


class ModelsResponse(BaseModel):
    loaded_at: UtcDateTime
    models: list[ServedModelOut]
    problems: list[str]


# --- CRM sync -----------------------------------------------------------------------------------


OPPORTUNITY_EXAMPLE = {
    "stage": "Presentation",
    "updated_at": "2017-07-03T14:05:00Z",
    "created_at": "2017-05-12T09:30:00Z",
    "expected_close_at": "2017-08-31",
    "amount": 48000.0,
    "currency": "USD",
    "owner": "Ana Moreau",
    "team": "Team Costa",
    "region": "East",
    "product": "Atlas Enterprise",
    "account": "Lumgen Group",
    "rep_probability": 0.4,
    "forecast_category": "Best Case",
}


class OpportunityState(DealNames):
    """A deal's whole current state in the CRM. A field left out is stored as unknown, except
    `created_at`, which a stored deal keeps."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [OPPORTUNITY_EXAMPLE]})
    #: The body a CRM scores a deal with may be pushed as it is: its id, where given, must be
    #: the path's (`PUT /v1/opportunities/{id}`).
    id: DealId | None = Field(None, description="Optional: the path's id, if sent again")
    stage: StageName = Field(
        min_length=1, max_length=100, description="The current stage, one of the dataset's stages"
    )
    updated_at: PastDateTime = Field(
        description="When the CRM last changed the deal (not ahead of now). A push older than the "
        "stored state does not roll it back; a stage change is dated by it"
    )
    created_at: PastDateTime | None = Field(None, description="Required for a new deal")
    closed_at: PastDateTime | None = Field(
        None,
        description="For won/lost only, by updated_at; default: the stored close of a deal "
        "stored in the same outcome, else updated_at",
    )
    expected_close_at: DealDateTime | None = None
    amount: Amount | None = None
    list_price: Amount | None = None
    currency: Name | None = Field(None, pattern=r"^[A-Za-z]{3}$", description="Default: USD")
    account_employees: Amount | None = None
    account_revenue: Amount | None = None
    rep_probability: RepProbability | None = None
    forecast_category: ForecastCategory | None = None
    csat: Csat | None = None
    attributes: Attributes | None = None

    @model_validator(mode="after")
    def _in_order(self) -> OpportunityState:
        _created_first(self, self.created_at)
        closed, updated = self.closed_at, self.updated_at
        if closed is not None and as_utc(closed) > as_utc(updated) + DATE_SKEW:
            out_of_order(
                "closed_at",
                closed,
                f"closed_at ({closed.isoformat()}) is after updated_at ({updated.isoformat()}): "
                "a deal is closed by the time the CRM last changed it (a date ahead would move "
                "the data's end, and every figure read as of it, to that date)",
            )
        return self


#: A deal's dates that cannot come before its creation, and why (beyond the clock skew).
AFTER_CREATION = {
    "updated_at": "",
    "closed_at": "",
    "expected_close_at": ": a deal is expected to close after it was created (an expected "
    "close before it would put the deal at risk as overdue from its first day)",
}


def _created_first(deal: BaseModel, created: datetime | None) -> None:
    """A deal is created before the CRM last changed it, before it closed and before it is
    expected to close (beyond the clock skew between systems): else its stage history would
    start before it existed."""
    if created is None:
        return
    for name, why in AFTER_CREATION.items():
        when = getattr(deal, name)
        if when is not None and as_utc(when) + DATE_SKEW < as_utc(created):
            out_of_order(
                name,
                when,
                f"{name} ({when.isoformat()}) is before created_at ({created.isoformat()}){why}",
            )


def out_of_order(field: str, value: object, message: str) -> None:
    """Refuse a check across fields at the field it is about (`body.closed_at`, not `body`):
    a model's check raises the error as pydantic's, located at that field."""
    problem = PydanticCustomError("date_order", "{message}", {"message": message})
    detail = InitErrorDetails(type=problem, loc=(field,), input=value)
    raise ValidationError.from_exception_data("date_order", [detail])


class OpportunityUpsert(OpportunityState):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"id": "0060X00000abcDE", **OPPORTUNITY_EXAMPLE}]},
    )
    id: DealId = Field(description="The CRM's id of the deal (text or a whole number)")


class OpportunityBatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"opportunities": [{"id": "0060X00000abcDE", **OPPORTUNITY_EXAMPLE}]}]
        },
    )
    opportunities: list[OpportunityUpsert] = Field(
        min_length=1, description="At most `max_batch_size` (settings) deals, each id once"
    )


class DealSyncedOut(BaseModel):
    id: str
    outcome: Literal["inserted", "changed", "unchanged", "stale", "tie"] = Field(
        description="stale: the store holds a newer state of the deal, which was kept; tie: it "
        "held other values of the same updated_at: the later stage and the larger content are "
        "kept whatever the order, so some or all of this push's values may not be (kept_stored)"
    )
    stage: str = Field(description="The stored stage after the call")
    status: Literal["open", "won", "lost"]
    previous_stage: str | None = Field(description="The stored stage before; null if new")
    stage_moved: bool = Field(description="This call moved the deal to another stage")
    history_added: int = Field(
        ge=0, description="Stage-history entries this call added (or dated otherwise)"
    )
    updated_at: UtcDateTime = Field(description="The stored deal's updated_at after the call")
    kept_stored: list[str] = Field(
        default_factory=list, description="In a tie, the fields whose stored values were kept"
    )


class OpportunitySynced(DealSyncedOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dataset": "pipeline",
                    "id": "0060X00000abcDE",
                    "outcome": "changed",
                    "stage": "Presentation",
                    "status": "open",
                    "previous_stage": "Qualification",
                    "stage_moved": True,
                    "history_added": 1,
                    "updated_at": "2017-07-03T14:05:00Z",
                }
            ]
        }
    )
    dataset: str


class OpportunityBatchSynced(BaseModel):
    dataset: str
    inserted: int = Field(ge=0)
    changed: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    stale: int = Field(ge=0, description="Older than the stored state: not applied")
    tie: int = Field(ge=0, description="At the stored updated_at with other values (kept_stored)")
    history_added: int = Field(ge=0, description="Stage-history entries added in all")
    deals: list[DealSyncedOut]


class OpportunityStored(BaseModel):
    """A deal as the store holds it now (what a CRM reads back after pushing)."""

    dataset: str
    id: str
    stage: str
    status: Literal["open", "won", "lost"]
    created_at: UtcDateTime | None = Field(description="Estimated where created_estimated")
    created_estimated: bool
    closed_at: UtcDateTime | None
    updated_at: UtcDateTime
    expected_close_at: UtcDateTime | None
    amount: float | None
    amount_estimated: bool
    list_price: float | None
    currency: str
    owner: str | None
    team: str | None
    region: str | None
    product: str | None
    product_series: str | None
    account: str | None
    sector: str | None
    account_country: str | None
    account_employees: float | None
    account_revenue: float | None
    rep_probability: float | None
    forecast_category: str | None
    csat: float | None
    attributes: dict[str, Any] | None


class OpportunityDeleted(BaseModel):
    dataset: str
    id: str
    stage: str = Field(description="The stage the deal was stored in")
    status: Literal["open", "won", "lost"]
    stage_observations_removed: int = Field(ge=0)
    field_observations_removed: int = Field(ge=0)
