"""The body of a partial push (`PATCH /v1/opportunities/{id}`): the fields that changed.

Each field is checked as in a whole push (`OpportunityState`); only `updated_at` is required. A
field left out keeps its stored value and `null` clears it, except the two a deal cannot be
without: its stage and its creation (see `forecast.data.partial_push`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from serving.edge_values import StageName
from serving.schemas import OpportunityState

PATCH_EXAMPLE = {"stage": "Negotiation", "amount": 52000.0, "updated_at": "2017-07-10T09:12:00Z"}
#: Fields a partial push may not clear with `null`, and why.
NOT_CLEARABLE = {
    "stage": "a deal is always in a stage: send the stage it is in now",
    "created_at": "a deal's creation cannot become unknown: leave created_at out to keep it",
}


class OpportunityPatch(OpportunityState):
    """The fields of a stored deal that changed in the CRM, as of `updated_at`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PATCH_EXAMPLE]})
    stage: Annotated[StageName, Field(min_length=1, max_length=100)] | None = Field(
        None, description="The current stage, if it changed; a stage of the dataset"
    )

    @model_validator(mode="after")
    def _not_cleared(self) -> OpportunityPatch:
        for name, why in NOT_CLEARABLE.items():
            if name in self.model_fields_set and getattr(self, name) is None:
                problem = PydanticCustomError("not_clearable", "{message}", {"message": why})
                detail = InitErrorDetails(type=problem, loc=(name,), input=None)
                raise ValidationError.from_exception_data("not_clearable", [detail])
        return self

    def changes(self) -> dict[str, Any]:
        """What the push sends to the store: the fields given, `null` kept (it clears)."""
        return self.model_dump(mode="json", exclude_unset=True)
