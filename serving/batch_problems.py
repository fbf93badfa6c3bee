"""A pushed batch's problems in one 422 (`POST /v1/opportunities/batch`).

The schema refuses a batch before the route runs, so a deal missing its stage hid another's
unknown stage until the first was fixed; and the push stops at its first bad deal. Here the
schema's errors come with the data problems of every deal the schema passed
(`forecast.data.push_problems`), each named by its path in the body, as the schema names its
own: `body.opportunities.1.stage`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from forecast.data.push_problems import Problem, deal_problems
from forecast.errors import ForecastError
from serving.deps import admitted, dataset_of_key, key_in_headers
from serving.schemas import OpportunityUpsert

BATCH_PATH = "/v1/opportunities/batch"
#: A deal's path in the body, as the schema's errors name it.
WHERE = "body.opportunities.{i}"


def is_batch_push(request: Request) -> bool:
    return request.method == "POST" and request.url.path == BATCH_PATH


async def with_data_problems(
    request: Request, errors: Sequence[Mapping[str, Any]], body: object
) -> list[Mapping[str, Any]]:
    """The schema's `errors` of a pushed batch, then the data problems of its deals the schema
    passed (none where the batch is not a list of deals, or its dataset is not known)."""
    listed = list(errors)
    deals_sent = body.get("opportunities") if isinstance(body, dict) else None
    if (
        not isinstance(deals_sent, list)
        or len(deals_sent) > request.app.state.settings.max_batch_size
    ):
        return listed
    refused = {
        err["loc"][2]
        for err in errors
        if len(err["loc"]) > 2 and tuple(err["loc"][:2]) == ("body", "opportunities")
    }
    deals: dict[int, dict[str, Any]] = {}
    for i, sent in enumerate(deals_sent):
        if i in refused:
            continue
        try:
            deals[i] = OpportunityUpsert.model_validate(sent).model_dump(
                mode="json", exclude_none=True
            )
        except ValidationError:
            continue
    if not deals:
        return listed
    try:
        key = await admitted(request, key_in_headers(request), ("scorer",))
        settings = request.app.state.settings
        dataset = dataset_of_key(key, request.query_params.get("dataset")) or settings.deal_dataset
        problems = await run_in_threadpool(
            deal_problems, request.app.state.engine, deals, dataset=dataset, where=WHERE
        )
    except ForecastError:  # no such dataset: the schema's errors are what can be said
        return listed
    return by_deal([*listed, *map(as_error, problems)])


def all_problems(
    engine: Engine, deals: list[dict[str, Any]], dataset: str | None
) -> list[dict[str, Any]]:
    """Every data problem of a batch the schema passed, as the schema's errors are listed (the
    push stopped at its first); none where the dataset is not known."""
    try:
        problems = deal_problems(engine, dict(enumerate(deals)), dataset=dataset, where=WHERE)
    except ForecastError:
        return []
    return by_deal([as_error(p) for p in problems])


def by_deal(errors: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The errors in the order of the deals they are about (each deal's in the order found);
    those of the body as a whole first."""

    def position(err: Mapping[str, Any]) -> int:
        loc = tuple(err["loc"])
        deal = loc[2] if len(loc) > 2 and loc[:2] == ("body", "opportunities") else -1
        return int(deal) if str(deal).lstrip("-").isdigit() else -1

    return sorted(errors, key=position)


def as_error(problem: Problem) -> dict[str, Any]:
    """A data problem as the schema's errors are listed (`loc`, `msg`, `type`)."""
    return {"loc": tuple(problem.field.split(".")), "msg": problem.problem, "type": problem.type}
