"""Typed dependencies that keep route signatures short: the caller's key, checked for a role.

An API key is sent as `X-API-Key: <key>` or `Authorization: Bearer <key>`. Both are declared
with `fastapi.security`, so the OpenAPI spec lists the two schemes, every protected operation
requires one or the other, and /docs has an Authorize button. Neither scheme answers errors by
itself (`auto_error=False`): `require` does, with the app's own 401 and 403 bodies.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, HTTPException, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from sqlalchemy import Engine

from forecast.data import store
from forecast.errors import InvalidInput, OtherDataset
from forecast.history import as_timestamp
from forecast.keys import ApiKey, KeyVerifier
from forecast.settings import Settings
from serving.caches import BuildOnceCache
from serving.schemas import single_line


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(get_engine)]
DatasetQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="Dataset (default: FORECAST_DEAL_DATASET, else the only opportunities dataset "
        "in the store)",
    ),
    AfterValidator(single_line),
]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_datasets(request: Request) -> BuildOnceCache:
    return request.app.state.datasets


def get_forecast_models(request: Request) -> BuildOnceCache:
    return request.app.state.forecast_models


DatasetsDep = Annotated[BuildOnceCache, Depends(get_datasets)]
ForecastModelsDep = Annotated[BuildOnceCache, Depends(get_forecast_models)]


api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="APIKeyHeader",
    auto_error=False,
    description="An API key (`forecast keys create`, or `POST /v1/keys` with an admin key).",
)
bearer_token = HTTPBearer(
    scheme_name="BearerToken",
    auto_error=False,
    description="The same API key, sent as `Authorization: Bearer <key>`.",
)


def presented_key(header: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    """The key from `X-API-Key`, else from `Authorization: Bearer`; never from the URL."""
    if header:
        return header.strip()
    if bearer is not None and bearer.credentials.strip():
        return bearer.credentials.strip()
    return None


async def verified(keys: KeyVerifier, key: str) -> ApiKey | None:
    """The key's record: from the verifier's memory inline (a dict look-up), else from the store
    in a worker thread, so a database that is slow to answer never stalls the event loop.

    Dependencies are `async` on purpose: a plain `def` dependency runs in the thread pool, and
    that hop cost more than the rest of a scoring request."""
    found = keys.remembered(key)
    if found is not None:
        return found[0]
    return await run_in_threadpool(keys.verify, key)


async def admitted(request: Request, key: str | None, roles: tuple[str, ...]) -> ApiKey:
    """The record of the presented key if it may act in one of `roles`; else the 401 or 403."""
    if key is None:
        raise HTTPException(
            401,
            "missing API key: send X-API-Key or Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = await verified(request.app.state.keys, key)
    if found is None:
        raise HTTPException(
            401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    if not found.allows(*roles):
        raise HTTPException(
            403, f"this key's role '{found.role}' may not do this; needs {' or '.join(roles)}"
        )
    return found


def require(*roles: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency admitting keys of the given roles (admin is admitted everywhere)."""

    async def check(
        request: Request,
        header: Annotated[str | None, Security(api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
    ) -> ApiKey:
        # The two schemes are read here, not through a dependency of their own: each level of
        # dependencies costs FastAPI a few microseconds on every call.
        return await admitted(request, presented_key(header, bearer), roles)

    return check


def key_in_headers(request: Request) -> str | None:
    """The key the two schemes would read from this request (`presented_key` of what
    `api_key_header` and `bearer_token` return), read from its headers directly."""
    headers = request.headers
    return key_sent(headers.get(api_key_header.model.name), headers.get("authorization"))


def key_sent(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key from the first `X-API-Key` and `Authorization` headers' values, as the two
    schemes read it: `X-API-Key` if not blank, else a `Bearer` token."""
    if x_api_key:
        return x_api_key.strip()
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return None


def require_in_route(*roles: str) -> Callable[..., Awaitable[ApiKey]]:
    """`require` for the hottest routes: the key read from the headers in the check itself.

    The two security schemes as dependencies of their own cost FastAPI two more dependency
    solves on every call (about a tenth of a scoring request); a route using this declares
    them in the spec with `openapi_extra=EITHER_KEY_SPEC` instead, so its operation reads the
    same as `require`'s. Refusals are the same, and come before the body is validated."""

    async def check(request: Request) -> ApiKey:
        return await admitted(request, key_in_headers(request), roles)

    return check


#: What FastAPI writes in the spec for an operation depending on `require`: either scheme.
EITHER_KEY_SPEC: dict = {
    "security": [{api_key_header.scheme_name: []}, {bearer_token.scheme_name: []}]
}

#: The scoring routes' `?dataset=`, declared as FastAPI would declare `Query(min_length=1,
#: max_length=100)`; the route reads it itself (`scoring_dataset`): as a parameter of the
#: route, FastAPI's solving and validating it cost about 15 µs on every call, set or not.
DATASET_MAX_LENGTH = 100
SCORING_SPEC: dict = {
    **EITHER_KEY_SPEC,
    "parameters": [
        {
            "name": "dataset",
            "in": "query",
            "required": False,
            "schema": {
                "anyOf": [
                    {"type": "string", "minLength": 1, "maxLength": DATASET_MAX_LENGTH},
                    {"type": "null"},
                ],
                "title": "Dataset",
            },
            "description": "Dataset whose model scores this (default: the key's dataset, else "
            "FORECAST_LEAD_DATASET / FORECAST_DEAL_DATASET, else the only dataset served)",
        }
    ],
}


AS_OF_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"
AS_OF_TEXT = re.compile(AS_OF_PATTERN)
#: A deal's scoring spec: the dataset, and the date it is scored as of.
DEAL_SCORING_SPEC: dict = {
    **SCORING_SPEC,
    "parameters": [
        *SCORING_SPEC["parameters"],
        {
            "name": "as_of",
            "in": "query",
            "required": False,
            "schema": {
                "anyOf": [
                    {"type": "string", "pattern": AS_OF_PATTERN, "maxLength": 32},
                    {"type": "null"},
                ]
            },
            "description": "Score as of this past date (default now), YYYY-MM-DD (as of the "
            "day's end) or YYYY-MM-DDTHH:MM:SS with an optional Z or %2B01:00 zone: the deal's "
            "age, days in stage and its rep's and account's past win rates are as of then; a "
            "deal created or in its stage after it is refused (422)",
        },
    ],
}


def scoring_as_of(request: Request) -> pd.Timestamp | None:
    """The `?as_of=` of a deal scoring request (`DEAL_SCORING_SPEC`): a past date (as of its
    end: a deal created that day is known by then) or date and time. Only the spec's forms: a
    bare `+` in a URL reads as a space, which would shift a zone's time silently."""
    if not request.scope["query_string"]:
        return None
    text = request.query_params.get("as_of")
    if text is None:
        return None
    said = (
        f"as_of: {text[:40]!r} is not a date: use YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS with an "
        "optional Z or %2B01:00 zone"
    )
    if not AS_OF_TEXT.fullmatch(text):
        raise InvalidInput(said)
    try:
        when = as_timestamp(text)
    except (InvalidInput, ValueError, OverflowError):
        raise InvalidInput(said) from None
    now = pd.Timestamp(store.utcnow())
    if len(text) == len("YYYY-MM-DD"):
        if when > now.normalize():
            raise InvalidInput(f"as_of: {text} is in the future; score as of today or before")
        return min(when + pd.Timedelta(days=1), now)  # the day's end, or now for today
    if when > now:
        raise InvalidInput(f"as_of: {text} is in the future; score as of now or before")
    return when


def scoring_dataset(request: Request) -> str | None:
    """The `?dataset=` of a scoring request (`SCORING_SPEC`), checked as the spec says."""
    if not request.scope["query_string"]:  # the usual request: nothing to parse
        return None
    name = request.query_params.get("dataset")
    if name is not None and not 1 <= len(name) <= DATASET_MAX_LENGTH:
        raise InvalidInput(
            f"dataset: a dataset name is 1 to {DATASET_MAX_LENGTH} characters, got {len(name)}"
        )
    return name


def dataset_of_key(key: ApiKey, dataset: str | None, doing: str = "use") -> str | None:
    """The dataset a request by `key` acts on (`bound_dataset` of the key's binding)."""
    return bound_dataset(key.dataset, dataset, doing)


def of_dataset(models: list[dict[str, Any]], bound: str | None) -> list[dict[str, Any]]:
    """The models (served, or their monitoring) a key bound to dataset `bound` sees, through
    the API or a dashboard session: that dataset's, as such a key scores with no other (None:
    every one)."""
    return [m for m in models if bound is None or m["dataset"] in (bound, None)]


def bound_dataset(bound: str | None, dataset: str | None, doing: str = "use") -> str | None:
    """The dataset a request acts on: the one named, else `bound`, the dataset of the key it
    comes with (its own, or the one a dashboard session was signed in with); a key bound to a
    dataset reads and writes that one only (`OtherDataset`, 403 naming both, otherwise), so a
    CRM's key cannot push into, or read, another client's pipeline."""
    if bound is None:
        return dataset
    if dataset is not None and dataset != bound:
        raise OtherDataset(bound, dataset, doing)
    return bound


def keyed_dataset(*roles: str) -> Callable[..., Awaitable[str | None]]:
    """A dependency: the `?dataset=` of a request by a key of `roles`, after `dataset_of_key`
    (None: neither named nor bound, the route's default applies)."""

    async def check(
        request: Request,
        header: Annotated[str | None, Security(api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
        dataset: DatasetQuery = None,
    ) -> str | None:
        key = await admitted(request, presented_key(header, bearer), roles)
        return dataset_of_key(key, dataset)

    return check


ScorerKey = Annotated[ApiKey, Depends(require("scorer"))]
ViewerKey = Annotated[ApiKey, Depends(require("viewer"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
#: `ScorerKey` for the scoring routes (declare `openapi_extra=EITHER_KEY_SPEC` with it).
ScorerKeyInRoute = Annotated[ApiKey, Depends(require_in_route("scorer"))]
#: The dataset a route reads or writes, for a key of the role (`keyed_dataset`): declare one of
#: these instead of the key and `DatasetQuery`, so a key bound to a dataset cannot leave it.
ScorerDataset = Annotated[str | None, Depends(keyed_dataset("scorer"))]
ViewerDataset = Annotated[str | None, Depends(keyed_dataset("viewer"))]
AdminDataset = Annotated[str | None, Depends(keyed_dataset("admin"))]


# --- query parameters ---------------------------------------------------------------------------

#: What each route reads from the query string, by `id` of the route (kept beside it, so an id
#: reused by another app's route is not mistaken for it): worked out on its first call.
_QUERY_PARAMETERS: dict[int, tuple[APIRoute, dict[str, tuple[str, ...]]]] = {}


async def known_query(request: Request) -> None:
    """Refuse a GET whose query string names a parameter the route does not read, or gives one
    more than once: ignored, it answered as if it were not there (`/v1/forecast?team=X` gave
    the company's total, not team X's); repeated, the last one was taken silently
    (`period=2025-Q1&period=2025-Q2` answered 2025-Q2). The 422 names it, the parameters the
    route takes, and what was likely meant."""
    if not request.scope["query_string"] or request.method not in ("GET", "HEAD"):
        return
    _check_query(request)


async def known_query_of_post(request: Request) -> None:
    """`known_query` for a POST route whose query string changes its answer (deal scoring's
    `as_of`): a misspelt `asof=` scored as of now without a word. Other POST routes take what
    webhooks add to their URLs."""
    if request.scope["query_string"]:
        _check_query(request)


def _check_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _QUERY_PARAMETERS.get(id(route))
    if known is None or known[0] is not route:
        known = _QUERY_PARAMETERS[id(route)] = (route, query_parameters(route))
    accepted = known[1]
    sent = request.query_params
    unknown = [name for name in dict.fromkeys(sent) if name not in accepted]
    if unknown:
        raise InvalidInput(unknown_query_message(request, unknown, accepted))
    repeated = {name: n for name in dict.fromkeys(sent) if (n := len(sent.getlist(name))) > 1}
    if repeated:
        said = ", ".join(f"{name!r} ({n} times)" for name, n in repeated.items())
        what = "parameter" if len(repeated) == 1 else "parameters"
        raise InvalidInput(
            f"query {what} {said} given more than once: {request.method} {request.url.path} "
            "takes each once; send one value"
        )


KnownQuery = Depends(known_query)


def query_parameters(route: APIRoute) -> dict[str, tuple[str, ...]]:
    """Each query parameter the route reads (its own and its dependencies'), with the values it
    takes where they are a fixed list (`by=team|rep|...`; else empty); and those a route reads
    itself and declares in its `openapi_extra` (the scoring routes' `dataset`)."""
    found: dict[str, tuple[str, ...]] = {}
    for field in _query_fields(route.dependant):
        found.setdefault(field.alias, _choices(field.field_info.annotation))
    for param in (route.openapi_extra or {}).get("parameters", []):
        if param.get("in") == "query":
            found.setdefault(param["name"], ())
    return found


def _query_fields(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def _choices(annotation: Any) -> tuple[str, ...]:
    """The values of a `Literal[...]` annotation, also inside `| None` or `Annotated`."""
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(v) for v in typing.get_args(annotation))
    return tuple(c for arg in typing.get_args(annotation) for c in _choices(arg))


def unknown_query_message(
    request: Request, unknown: list[str], accepted: dict[str, tuple[str, ...]]
) -> str:
    """What was sent that the route does not read, what it takes, and the likely meaning: a
    parameter spelt close to one it takes, or a value of one (`team=X` for `by=team&group=X`)."""
    names = ", ".join(repr(n) for n in unknown)
    what = "parameter" if len(unknown) == 1 else "parameters"
    takes = ", ".join(accepted) or "no query parameters"
    hints = [hint for name in unknown if (hint := _meant(request, name, accepted))]
    said = f"unknown query {what} {names}: GET {request.url.path} takes {takes}"
    return "; ".join([said, *hints])


def _meant(request: Request, name: str, accepted: dict[str, tuple[str, ...]]) -> str | None:
    for param, values in accepted.items():
        if name in values:
            value = request.query_params.get(name, "")
            group = f"&group={value}" if "group" in accepted and value else ""
            return f"{name!r} is a value of {param!r}: ask {param}={name}{group}"
    close = difflib.get_close_matches(name, list(accepted), n=1, cutoff=0.75)
    return f"{name!r}: did you mean {close[0]!r}?" if close else None
