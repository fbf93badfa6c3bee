"""CRM sync (scorer role): upsert one opportunity or a batch with its current state, update
one with the fields that changed, read one back, or remove one deleted in the CRM."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from forecast.data import deal_record, sync
from forecast.errors import InvalidInput
from serving.batch_problems import all_problems
from serving.deps import EngineDep, KnownQuery, ScorerDataset, SettingsDep
from serving.opportunity_patch import OpportunityPatch
from serving.schemas import (
    OpportunityBatchRequest,
    OpportunityBatchSynced,
    OpportunityDeleted,
    OpportunityState,
    OpportunityStored,
    OpportunitySynced,
    single_line,
)
from serving.tracking import data_changed

router = APIRouter(tags=["crm sync"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown API key"},
    403: {"description": "The key's role may not push deals, or it is bound to another dataset"},
    404: {"description": "No such dataset, or no opportunities dataset in the store"},
    413: {"description": "Request body too large"},
    422: {
        "description": "A field is malformed, a stage unknown, or the batch too big; "
        "the message names the field and value. Nothing was written"
    },
}


DealIdPath = Annotated[
    str,
    Path(min_length=1, max_length=100, description="The CRM's id of the deal"),
    AfterValidator(single_line),
]
ONE_DEAL_ERRORS: dict[int | str, dict[str, Any]] = {
    **{k: ERRORS[k] for k in (401, 403)},
    404: {"description": "No such deal in the dataset (named), or no such dataset"},
}


@router.put(
    "/opportunities/{opportunity_id}",
    responses=ERRORS,
    summary="Upsert one deal's current state: stage moves go to the history, "
    "idempotent, never rolled back by an older push",
)
def upsert_opportunity(
    opportunity_id: DealIdPath,
    body: OpportunityState,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    dataset: ScorerDataset,
) -> OpportunitySynced:
    deal = {**body.model_dump(mode="json", exclude_none=True), "id": _same_id(body, opportunity_id)}
    report = sync.sync_opportunities(
        engine, [deal], dataset=dataset or settings.deal_dataset, where=""
    )
    if report.changed:  # a push that changed nothing calls for no tracking run
        data_changed(request.app.state.tracking)
    return OpportunitySynced(dataset=report.dataset, **report.deals[0].to_dict())


@router.patch(
    "/opportunities/{opportunity_id}",
    responses=ONE_DEAL_ERRORS | {k: ERRORS[k] for k in (413, 422)},
    summary="Update a stored deal with the fields that changed: a field left out keeps its "
    "stored value, null clears it; older than the stored state: stale, nothing written",
)
def patch_opportunity(
    opportunity_id: DealIdPath,
    body: OpportunityPatch,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    dataset: ScorerDataset,
) -> OpportunitySynced:
    deal = {**body.changes(), "id": _same_id(body, opportunity_id)}
    report = sync.sync_opportunities(
        engine, [deal], dataset=dataset or settings.deal_dataset, where="", partial=True
    )
    if report.changed:  # a push that changed nothing calls for no tracking run
        data_changed(request.app.state.tracking)
    return OpportunitySynced(dataset=report.dataset, **report.deals[0].to_dict())


def _same_id(body: OpportunityState, path_id: str) -> str:
    """The deal's id: the path's, which the body may repeat but not contradict."""
    if body.id is not None and str(body.id) != path_id:
        raise InvalidInput(f"id: the body's id {str(body.id)!r} is not the path's {path_id!r}")
    return path_id


@router.post(
    "/opportunities/batch",
    responses=ERRORS,
    summary="Upsert many deals in one call (all or nothing)",
)
def upsert_opportunities(
    body: OpportunityBatchRequest,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    dataset: ScorerDataset,
) -> OpportunityBatchSynced:
    """All or nothing. A batch with several problems is answered with all of them in one 422,
    each with its field's path (`body.opportunities.1.stage`) and what was wrong: the schema's
    (a field missing, a value of the wrong type) and the data's (a stage the dataset does not
    know, dates out of order with the stored deal) alike; one problem keeps its own answer."""
    deals = [d.model_dump(mode="json", exclude_none=True) for d in body.opportunities]
    try:
        report = sync.sync_opportunities(
            engine,
            deals,
            dataset=dataset or settings.deal_dataset,
            max_batch=settings.max_batch_size,
        )
    except InvalidInput as exc:
        found = all_problems(engine, deals, dataset or settings.deal_dataset)
        # Only where the checks found the push's own error among them (not the import's, which
        # reads the rows after them): else the push's answer is the one to give.
        if len(found) < 2 or not any(e["msg"] in str(exc) for e in found):
            raise
        raise RequestValidationError(found) from None
    if report.changed:
        data_changed(request.app.state.tracking)
    return OpportunityBatchSynced.model_validate(report.to_dict())


@router.get(
    "/opportunities/{opportunity_id}",
    responses=ONE_DEAL_ERRORS,
    summary="The deal's stored current state: what the pushes left",
    dependencies=[KnownQuery],  # as every other GET: an unknown parameter is a 422
)
def read_opportunity(
    opportunity_id: DealIdPath,
    engine: EngineDep,
    settings: SettingsDep,
    dataset: ScorerDataset,
) -> OpportunityStored:
    state = deal_record.stored_deal(
        engine, opportunity_id, dataset=dataset or settings.deal_dataset
    )
    return OpportunityStored.model_validate(state)


@router.delete(
    "/opportunities/{opportunity_id}",
    responses=ONE_DEAL_ERRORS,
    summary="Remove a deal deleted in the CRM, with its stage and field history "
    "(scores already logged stay)",
)
def delete_opportunity(
    opportunity_id: DealIdPath,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    dataset: ScorerDataset,
) -> OpportunityDeleted:
    """Remove the deal, its stage and field history. A deal the dataset does not hold (never
    pushed, or removed already: a repeated DELETE) is a 404 naming the deal and the dataset,
    and nothing changes; the deal is gone either way. A later push creates it again."""
    removed = deal_record.remove_deal(
        engine, opportunity_id, dataset=dataset or settings.deal_dataset
    )
    data_changed(request.app.state.tracking)
    return OpportunityDeleted.model_validate(removed.__dict__)
