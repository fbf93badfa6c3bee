"""The hot route's short way: a plain `POST /v1/leads/score` answered by the request middleware.

A request that takes the whole way through FastAPI (its error and exception middleware, the
router's matching, dependency solving, the body read through a `Request`) paid about 200 µs
more than scoring it did. The lane answers the usual request — a key this worker has checked
lately, a JSON body that validates, a model to score it — with the route's own steps
(`scores.lead_scored`, then `scores.lead_body`, the bytes of `scores.lead_response`) and nothing
else; the middleware sends them with the headers the route's response has.

Anything else is handed to the app unchanged, the body replayed: a key not remembered (checked
against the store in a thread by the route), missing, refused or of another role; a body that
does not validate; `?dataset=`; another content type; a model that cannot score. The route then
answers as it always has, so statuses and error bodies are the route's own. Nothing is logged
or counted before the score is made, so a request handed over is never logged twice.

Not used when CORS is configured: its middleware, inside this one, adds headers to every answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import State
from starlette.types import Scope

from forecast.errors import ForecastError
from forecast.scoring import Score
from serving.deps import key_sent
from serving.routes.scores import lead_body, lead_scored
from serving.schemas import LeadScoreRequest

log = logging.getLogger("forecast.serving")

PATH = "/v1/leads/score"
#: Header names the lane reads (an ASGI server sends them in lower case).
_KEY, _AUTHORIZATION, _CONTENT_TYPE = b"x-api-key", b"authorization", b"content-type"
#: The one content type the lane takes: FastAPI reads others as JSON too, the route does.
_JSON = b"application/json"


class LeadLane:
    """Answers plain lead-scoring requests as the route would (see the module docstring).

    `answered` and `handed_over` count requests, for tests and benchmarks to see which way
    requests went."""

    #: The headers of the route's 200 answer (a `JSONResponse`'s) after its `content-length`.
    HEADERS = ((b"content-type", b"application/json"),)

    def __init__(self, state: State, route: APIRoute) -> None:
        self.state = state
        self.route = route
        self.answered = 0
        self.handed_over = 0

    @classmethod
    def for_app(cls, app: Any) -> LeadLane:
        """The lane of an app whose router holds the lead-scoring route (the route the router
        would pick: the lane labels its requests' metrics with it, as the router does)."""
        for path, route in _routes(app.router.routes):
            if path == PATH and isinstance(route, APIRoute) and "POST" in (route.methods or ()):
                return cls(app.state, route)
        raise LookupError(f"no POST {PATH} route to take a short way to")

    def takes(self, scope: Scope) -> bool:
        """The request is one the lane may try (the body is read only for these)."""
        return (
            scope["path"] == PATH
            and scope["method"] == "POST"
            and not scope["query_string"]
            and not scope.get("root_path")
        )

    def answer(self, scope: Scope, body: bytes) -> bytes | None:
        """The JSON body of the route's 200 answer (the score logged and counted), for the
        caller to send with its length and `HEADERS`; or None (nothing logged or
        counted) for the app to answer the request."""
        scored = self._score(scope["headers"], body)
        if scored is None:
            self.handed_over += 1
            return None
        request, dataset, result = scored
        scope["route"] = self.route  # as the router sets it: metrics are labelled by it
        answer = lead_body(self.state, request, dataset, result)
        self.answered += 1
        return answer

    def _score(
        self, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[LeadScoreRequest, str | None, Score] | None:
        x_api_key = authorization = content_type = None
        for name, value in headers:  # the first of each, as `Request.headers.get` reads it
            if name == _KEY:
                x_api_key = value if x_api_key is None else x_api_key
            elif name == _AUTHORIZATION:
                authorization = value if authorization is None else authorization
            elif name == _CONTENT_TYPE:
                content_type = value if content_type is None else content_type
        if content_type != _JSON:
            return None
        key = key_sent(
            None if x_api_key is None else x_api_key.decode("latin-1"),
            None if authorization is None else authorization.decode("latin-1"),
        )
        if key is None:
            return None
        remembered = self.state.keys.remembered(key)
        if remembered is None or remembered[0] is None or not remembered[0].allows("scorer"):
            return None
        try:
            # The route's own model, parsed and validated in one pass by pydantic's JSON reader
            # (its rules are constraints pydantic's core checks: schemas.LeadScoreRequest): what
            # it takes, it reads as `json.loads` then `model_validate` (FastAPI's way) do, to the
            # same values and types. What it refuses goes to the route, which reads it FastAPI's
            # way: a body it refuses too (a 422 naming the field), or one only `json.loads` reads
            # (in UTF-16, or with a byte-order mark).
            request = LeadScoreRequest.model_validate_json(body)
            dataset, result = lead_scored(self.state.models, remembered[0], None, request)
        except (ValueError, ValidationError, ForecastError):
            return None  # the route answers: 422, 404, 503, ... as it always has
        except Exception:  # noqa: BLE001 - the route meets it again and answers it
            log.debug("lead lane: handed over on an unexpected error", exc_info=True)
            return None
        return request, dataset, result


def _routes(routes: list[Any]) -> Iterator[tuple[str, Any]]:
    """(full path, route) of each route, in the order the router tries them; a FastAPI that
    keeps an included router whole (`effective_route_contexts`) names its routes' full paths
    and the route objects the router puts in the scope."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for context in contexts():
                yield context.path, context.original_route
        else:
            yield getattr(route, "path", ""), route
