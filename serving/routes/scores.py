"""Scoring routes for CRMs: a lead or an open deal, one or a batch, with reasons."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from forecast import scoring
from forecast.errors import InvalidInput, ModelNotReady
from serving.deps import EITHER_KEY_SPEC, ScorerKeyInRoute
from serving.logs import request_id
from serving.schemas import (
    BatchScoreResponse,
    DealBatchRequest,
    DealScoreRequest,
    LeadBatchRequest,
    LeadScoreRequest,
    ScoreResponse,
)

router = APIRouter(tags=["scoring"])
ERRORS = {
    401: {"description": "Missing or unknown API key"},
    403: {"description": "The key's role may not score"},
    413: {"description": "Request body too large"},
    422: {"description": "A field is malformed or of the wrong type"},
    503: {"description": "No model and nothing to fall back on yet"},
}


def _served(request: Request, kind: str) -> scoring.Served:
    models: scoring.ModelSet = request.app.state.models
    served = models.lead if kind == scoring.LEAD else models.deal
    if served is None:
        # `degraded` is in plain words; `problems` may name the tracking URI or a statement.
        detail = "; ".join(models.degraded) or "nothing is loaded yet"
        raise ModelNotReady(f"no {kind} model is ready to score: {detail}")
    return served


def _respond(
    request: Request,
    kind: str,
    ident: str | None,
    inputs: dict,
    result: scoring.Score,
    row: dict | None = None,
) -> dict:
    """The response body as plain data (its shape is `ScoreResponse`, tested against the spec).

    The score is logged with what it scored (id and dataset, to join with outcomes later) and
    the model's inputs (`row`, else the inputs as sent) for drift."""
    # The fingerprint and the loggable inputs are made by the log's writer, off this path.
    request.app.state.recorder.record_score(
        inputs,
        row,
        request_id=request_id.get(),
        kind=kind,
        model=result.model,
        model_version=result.version or "fallback",
        probability=result.probability,
        score=result.score,
        subject_id=ident,
        dataset=_dataset(request, kind),
    )
    request.app.state.metrics.score_served(kind, result.model, result.probability)
    return {
        "id": ident,
        "probability": result.probability,
        "score": result.score,
        "grade": result.grade,
        "reasons_for": result.reasons_for,
        "reasons_against": result.reasons_against,
        "model": result.model,
        "version": result.version,
        "method": result.method,
        "label": result.label,
    }


def _dataset(request: Request, kind: str) -> str | None:
    """The dataset scored against: the deal context's, or the one the lead model learnt from."""
    models: scoring.ModelSet = request.app.state.models
    if kind == "deal":  # the log's kind, not `scoring.DEAL`
        return models.deal_context.dataset if models.deal_context is not None else None
    details = models.lead.details if models.lead is not None else {}
    dataset = (details or {}).get("params", {}).get("dataset")
    return str(dataset) if dataset else None


def _check_batch(request: Request, size: int) -> None:
    limit = request.app.state.settings.max_batch_size
    if size > limit:
        raise InvalidInput(f"batch of {size:,} rows: the limit is {limit:,} per call")


@router.post(
    "/leads/score",
    summary="Score one lead: probability, 0–100, grade, reasons",
    responses=ERRORS,
    openapi_extra=EITHER_KEY_SPEC,
    response_model=ScoreResponse,
)
async def score_lead(body: LeadScoreRequest, request: Request, _: ScorerKeyInRoute) -> JSONResponse:
    served = _served(request, scoring.LEAD)
    # Sent as built: the hot path skips re-validating its own output against the model.
    [result] = scoring.score(served, [body.fields])
    return JSONResponse(_respond(request, "lead", body.id, body.fields, result))


@router.post(
    "/leads/score/batch",
    summary="Score many leads in one call",
    responses=ERRORS,
    openapi_extra=EITHER_KEY_SPEC,
)
def score_leads(
    body: LeadBatchRequest, request: Request, _: ScorerKeyInRoute
) -> BatchScoreResponse:
    _check_batch(request, len(body.leads))
    served = _served(request, scoring.LEAD)
    results = scoring.score(served, [lead.fields for lead in body.leads])
    return BatchScoreResponse(
        scores=[
            ScoreResponse(**_respond(request, "lead", lead.id, lead.fields, r))
            for lead, r in zip(body.leads, results, strict=True)
        ]
    )


def _deal_inputs(request: Request, body: DealScoreRequest) -> tuple[dict, dict]:
    models: scoring.ModelSet = request.app.state.models
    if models.deal_context is None:
        raise ModelNotReady("no deal dataset in the store to score deals against")
    inputs = body.model_dump(exclude={"id"}, exclude_none=True, mode="json")
    return inputs, scoring.deal_row(models.deal_context, inputs)


@router.post(
    "/deals/score",
    summary="Score one open deal: probability to close won, reasons",
    responses=ERRORS,
    openapi_extra=EITHER_KEY_SPEC,
    response_model=ScoreResponse,
)
async def score_deal(body: DealScoreRequest, request: Request, _: ScorerKeyInRoute) -> JSONResponse:
    served = _served(request, scoring.DEAL)
    inputs, row = _deal_inputs(request, body)
    [result] = scoring.score(served, [row])
    return JSONResponse(_respond(request, "deal", body.id, inputs, result, row))


@router.post(
    "/deals/score/batch",
    summary="Score many open deals in one call",
    responses=ERRORS,
    openapi_extra=EITHER_KEY_SPEC,
)
def score_deals(
    body: DealBatchRequest, request: Request, _: ScorerKeyInRoute
) -> BatchScoreResponse:
    _check_batch(request, len(body.deals))
    served = _served(request, scoring.DEAL)
    pairs = [_deal_inputs(request, deal) for deal in body.deals]
    results = scoring.score(served, [row for _, row in pairs])
    return BatchScoreResponse(
        scores=[
            ScoreResponse(**_respond(request, "deal", deal.id, inputs, r, row))
            for deal, (inputs, row), r in zip(body.deals, pairs, results, strict=True)
        ]
    )
