"""Liveness and readiness.

Both are public (probes send no key), so `/readyz` says to anyone only whether the service is
ready and, in plain words, which checks failed. The details (which models serve, from where, and
why one failed to load: text that may name the tracking URI, the store or a statement) are for a
viewer's or an admin's key, sent as on any other route.

Degraded is not ready (503): an instance whose scores come from a fallback standing in for a
champion that should serve (the registry unreachable with no local copy, a champion that would
not load), or that cannot score deals because the dataset is not settled, is taken out of
rotation. A readiness probe's answer decides where traffic goes: wrong scores written into a
CRM's records do lasting harm, a 503 is retried, and a rolling update with a wrong tracking URI
stops at its first instance while the old ones keep serving. A fallback because nothing was
trained yet, or the last local copy of the champion while the registry is away, is ready.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from forecast import scoring
from forecast.data import store
from forecast.keys import ApiKey
from serving.deps import presented_key

log = logging.getLogger("forecast.serving")
router = APIRouter(tags=["health"])

#: What a failed check means, said the same to everyone.
FAILED = {
    "store": "store: the database cannot be reached",
    "models": "models: no model is loaded",
}


class ServedModel(BaseModel):
    version: str | None = Field(description="The registry version; none for a fallback")
    source: str = Field(description="registry, local copy or fallback")
    label: str


class Readiness(BaseModel):
    """Ready or not, each check's result and what is wrong; `models` and `note` (and the full
    `problems`) only for a viewer's or an admin's key."""

    ready: bool
    checks: dict[str, bool] = Field(
        description="Each check: store reachable; models loaded, none a fallback standing in for "
        "a champion that should serve, and deals scorable"
    )
    problems: list[str] = Field(
        description="Without a key: each failed check in words. With a viewer's or an admin's "
        "key: what failed as the service saw it"
    )
    models: dict[str, ServedModel] | None = Field(
        None,
        description="With a viewer's or an admin's key: the models served, the default "
        "dataset's by kind (`leads`, `deals`), every other dataset's as `kind:dataset`",
    )
    note: str | None = None
    warming: bool | None = Field(
        None,
        description="True while the warm-up (the dashboard views built at start and after "
        "each tracking run) runs: the first views wait for it; absent otherwise",
    )


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready or not and which checks failed; with a viewer's key, which models serve "
    "(and from where) and why a check failed",
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "Not ready: the store unreachable, no model, or degraded (a fallback "
            "standing in for a champion that should serve, deals that cannot be scored); "
            "`problems` says which",
        }
    },
)
def readyz(request: Request) -> JSONResponse:
    models = request.app.state.models
    defaults = {id(models.lead), id(models.deal)}
    key = _details_key(request)
    bound = key.dataset if key is not None else None
    served = {  # a key bound to a dataset sees that dataset's models only
        s.kind if id(s) in defaults else f"{s.kind}:{s.dataset}": ServedModel(
            version=s.version, source=s.source, label=s.scorer.label
        )
        for s in models.served()
        if bound is None or s.dataset in (None, bound)
    }
    store_error = _store_error(request)
    checks = {"store": store_error is None, "models": models.any_served and not models.degraded}
    ready = all(checks.values())
    warmup = request.app.state.warmup
    if key is not None:
        problems = [*models.degraded, *models.problems_for(bound)] + (
            [f"store: {store_error}"] if store_error else []
        )
        body = Readiness(ready=ready, checks=checks, problems=problems, models=served)
        if any(s.source == "local copy" for s in served.values()):
            body.note = "the model registry is unreachable: serving the last local copy"
    else:
        body = Readiness(ready=ready, checks=checks, problems=_plain_problems(checks, models))
    body.warming = True if warmup is not None and warmup.running else None
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ready else 503)


def _plain_problems(checks: dict[str, bool], models: scoring.ModelSet) -> list[str]:
    """Each failed check in words anyone may read: `FAILED`, and what serves worse than it
    should (`ModelSet.degraded`, said without URIs, paths or statements)."""
    problems = [] if checks["store"] else [FAILED["store"]]
    if not models.any_served:
        problems.append(FAILED["models"])
    return problems + models.degraded


def _store_error(request: Request) -> str | None:
    """None when the store answers; else why not (for the details only)."""
    try:
        if store.is_reachable(request.app.state.engine):
            return None
        return "the database cannot be reached"
    except Exception as exc:  # noqa: BLE001 - a probe answers "not ready", never a 500
        log.warning("readiness: the store check failed: %s", exc)
        return str(exc)


def _details_key(request: Request) -> ApiKey | None:
    """The request's key if it is a valid key of the viewer (or admin) role; checked as the
    protected routes check it, but a missing or bad key means the public answer, not a 401."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    bearer = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)
        if scheme.lower() == "bearer" and credentials.strip()
        else None
    )
    key = presented_key(request.headers.get("x-api-key"), bearer)
    if key is None:
        return None
    try:
        found = request.app.state.keys.verify(key)
    except Exception as exc:  # noqa: BLE001 - the store down: the public answer
        log.warning("readiness: the key could not be checked: %s", exc)
        return None
    return found if found is not None and found.allows("viewer") else None
