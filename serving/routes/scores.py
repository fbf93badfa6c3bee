"""Scoring routes for CRMs: a lead or an open deal, one or a batch, with reasons.

Each dataset has its own models: a request scores the dataset it names (`?dataset=`), else the
one its key is bound to, else the default of its kind; the response says which."""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as json_encoder
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import State

from forecast import scoring
from forecast.deal_inputs import as_of_note, rates_as_of
from forecast.errors import InvalidInput, ModelNotReady
from forecast.keys import ApiKey
from serving.deps import (
    DEAL_SCORING_SPEC,
    SCORING_SPEC,
    ScorerKeyInRoute,
    dataset_of_key,
    known_query_of_post,
    scoring_as_of,
    scoring_dataset,
)
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
    403: {"description": "The key's role may not score, or it is bound to another dataset"},
    404: {"description": "No model is served for the dataset named"},
    413: {"description": "Request body too large"},
    422: {"description": "A field is malformed or of the wrong type"},
    503: {"description": "No model and nothing to fall back on yet"},
}


def _served(request: Request, kind: str, key: ApiKey) -> tuple[str, scoring.Served]:
    """(dataset, model) scoring this request (`served_for` its `?dataset=`)."""
    return served_for(request.app.state.models, kind, key, scoring_dataset(request))


def served_for(
    models: scoring.ModelSet, kind: str, key: ApiKey, dataset: str | None
) -> tuple[str, scoring.Served]:
    """(dataset, model) scoring a request naming `dataset`: the dataset named, else the key's,
    else the default; a key bound to a dataset scores that one only (403 naming both
    otherwise)."""
    return models.pick(kind, dataset_of_key(key, dataset, "score"))


def lead_scored(
    models: scoring.ModelSet, key: ApiKey, dataset: str | None, body: LeadScoreRequest
) -> tuple[str | None, scoring.Score]:
    """A lead's score and the dataset whose model made it (None: the unnamed default)."""
    name, served = served_for(models, scoring.LEAD, key, dataset)
    [result] = scoring.score(served, [body.fields], as_sent=True)
    return name or None, result


def _json_renderer() -> Callable[[Any], bytes]:
    """Starlette's `JSONResponse.render` (UTF-8, no NaN, compact), the same bytes, from one C
    encoder made once: `json.dumps` with options builds an encoder per call, a quarter of the
    time of rendering a score. No check for circular data: a response is a tree."""
    options = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    make = getattr(json_encoder, "c_make_encoder", None)  # not in the stubs
    if make is None:  # no C accelerator: the encoder's own way
        return lambda content: options.encode(content).encode()
    encode = make(
        None, options.default, json_encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return lambda content: "".join(encode(content, 0)).encode()


#: `render_json(content)`: what `JSONResponse(content).body` is, made faster.
render_json = _json_renderer()


class ScoreJSON(JSONResponse):
    """A `JSONResponse` rendered by `render_json` (the same bytes)."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


def lead_body(
    state: State, body: LeadScoreRequest, dataset: str | None, result: scoring.Score
) -> bytes:
    """A lead's score as the response's JSON, built as is (the hot path skips re-validating its
    own output against `ScoreResponse`), logged and counted (`_respond`)."""
    return render_json(_respond(state, "lead", dataset, body.id, body.fields, result))


def lead_response(
    state: State, body: LeadScoreRequest, dataset: str | None, result: scoring.Score
) -> JSONResponse:
    """`lead_body` as the route's response."""
    return ScoreJSON(_respond(state, "lead", dataset, body.id, body.fields, result))


def _respond(
    state: State,
    kind: str,
    dataset: str | None,
    ident: str | None,
    inputs: dict,
    result: scoring.Score,
    row: dict | None = None,
) -> dict:
    """The response body as plain data (its shape is `ScoreResponse`, tested against the spec).

    The score is logged with what it scored (id and dataset, to join with outcomes later) and
    the model's inputs (`row`, else the inputs as sent) for drift."""
    # The fingerprint and the loggable inputs are made by the log's writer, off this path.
    state.recorder.queue_score(
        inputs,
        row,
        request_id.get(),
        kind,
        result.model,
        result.version or "fallback",
        result.probability,
        result.score,
        ident,
        dataset,
    )
    state.metrics.score_served(kind, result.model, result.probability)
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
        "dataset": dataset,
        "notes": list(result.notes),
    }


def _check_batch(request: Request, size: int) -> None:
    limit = request.app.state.settings.max_batch_size
    if size > limit:
        raise InvalidInput(f"batch of {size:,} rows: the limit is {limit:,} per call")


@router.post(
    "/leads/score",
    summary="Score one lead: probability, 0–100, grade (none before a lead model), reasons",
    responses=ERRORS,
    openapi_extra=SCORING_SPEC,
    response_model=ScoreResponse,
)
async def score_lead(
    body: LeadScoreRequest, request: Request, key: ScorerKeyInRoute
) -> JSONResponse:
    # Served by the request middleware's `LeadLane` when the request is a plain one: what is
    # here is what it runs, in the same order.
    name, result = lead_scored(request.app.state.models, key, scoring_dataset(request), body)
    return lead_response(request.app.state, body, name, result)


@router.post(
    "/leads/score/batch",
    summary="Score many leads in one call",
    responses=ERRORS,
    openapi_extra=SCORING_SPEC,
)
def score_leads(
    body: LeadBatchRequest, request: Request, key: ScorerKeyInRoute
) -> BatchScoreResponse:
    _check_batch(request, len(body.leads))
    name, served = _served(request, scoring.LEAD, key)
    results = scoring.score(served, [lead.fields for lead in body.leads], as_sent=True)
    return BatchScoreResponse(
        scores=[
            ScoreResponse(
                **_respond(request.app.state, "lead", name or None, lead.id, lead.fields, r)
            )
            for lead, r in zip(body.leads, results, strict=True)
        ]
    )


#: What a CRM pushes for a deal that is no input of the deal model: accepted, ignored, said.
NOT_DEAL_INPUTS = (
    "updated_at",
    "closed_at",
    "expected_close_at",
    "currency",
    "rep_probability",
    "forecast_category",
    "csat",
)


def _say_ignored(
    body: DealScoreRequest, result: scoring.Score, date_note: str | None = None
) -> scoring.Score:
    """The score with notes naming what was sent that the model does not read, as a lead's
    notes do (a CRM sends a deal as it pushes it: nothing it holds is refused): an amount in
    another currency is read as it is, which is said too; and `date_note` (`as_of_note`)."""
    sent = [name for name in NOT_DEAL_INPUTS if getattr(body, name) is not None]
    said = (
        [f"not fields the model reads, ignored: {', '.join(repr(n) for n in sent)}"] if sent else []
    )
    if body.currency is not None and (body.amount is not None or body.list_price is not None):
        said.append(f"amounts are scored as sent, not converted from {body.currency!r}")
    if date_note is not None:
        said.append(date_note)
    if said:
        result.notes = [*said, *result.notes]
    return result


class _DealScoring:
    """What a request's deals are scored as of: the date (None: now), the dataset's context
    and its reps' and accounts' win rates then (read once per request, from the same model set
    that scores it: a background reload may swap in another set meanwhile)."""

    def __init__(
        self, models: scoring.ModelSet, name: str, served: scoring.Served, when: Any
    ) -> None:
        context = models.deal_contexts.get(name)
        if context is None:
            raise ModelNotReady("no deal dataset in the store to score deals against")
        self.context, self.when = context, when
        self.rates = rates_as_of(context, when)
        self.reads_dates = served.scorer.method == scoring.MODEL  # a fallback reads none

    def inputs(self, body: DealScoreRequest) -> tuple[dict, dict, str | None]:
        """A deal's inputs, its model row and what the date says of it (`as_of_note`)."""
        inputs = body.model_dump(exclude={"id"}, exclude_none=True, mode="json")
        row = scoring.deal_row(self.context, inputs, self.when, self.rates)
        said = as_of_note(self.context, inputs, self.when) if self.reads_dates else None
        return inputs, row, said

    def inputs_of_row(self, body: DealScoreRequest, i: int) -> tuple[dict, dict, str | None]:
        """`inputs` of a batch's deal: a refusal names its row, as a lead batch's does."""
        try:
            return self.inputs(body)
        except InvalidInput as exc:
            raise InvalidInput(f"row {i} (counting from 0): {exc}") from None


@router.post(
    "/deals/score",
    summary="Score one open deal: probability to close won, reasons",
    responses=ERRORS,
    openapi_extra=DEAL_SCORING_SPEC,
    response_model=ScoreResponse,
    dependencies=[Depends(known_query_of_post)],
)
async def score_deal(
    body: DealScoreRequest, request: Request, key: ScorerKeyInRoute
) -> JSONResponse:
    models = request.app.state.models
    name, served = served_for(models, scoring.DEAL, key, scoring_dataset(request))
    inputs, row, said = _DealScoring(models, name, served, scoring_as_of(request)).inputs(body)
    [scored] = scoring.score(served, [row])
    result = _say_ignored(body, scored, said)
    return ScoreJSON(
        _respond(request.app.state, "deal", name or None, body.id, inputs, result, row)
    )


@router.post(
    "/deals/score/batch",
    summary="Score many open deals in one call",
    responses=ERRORS,
    openapi_extra=DEAL_SCORING_SPEC,
    dependencies=[Depends(known_query_of_post)],
)
def score_deals(
    body: DealBatchRequest, request: Request, key: ScorerKeyInRoute
) -> BatchScoreResponse:
    _check_batch(request, len(body.deals))
    models = request.app.state.models
    name, served = served_for(models, scoring.DEAL, key, scoring_dataset(request))
    as_of = _DealScoring(models, name, served, scoring_as_of(request))
    made = [as_of.inputs_of_row(deal, i) for i, deal in enumerate(body.deals)]
    results = scoring.score(served, [row for _, row, _ in made])
    return BatchScoreResponse(
        scores=[
            ScoreResponse(
                **_respond(
                    request.app.state,
                    "deal",
                    name or None,
                    deal.id,
                    inputs,
                    _say_ignored(deal, r, said),
                    row,
                )
            )
            for deal, (inputs, row, said), r in zip(body.deals, made, results, strict=True)
        ]
    )
