"""A JSON body of the wrong shape is a 422 naming the field and what was wrong, on every route
that reads one: an object or a list where a field takes a value, a list where the body is an
object, and a value nested deeper than Python's json reads (a thousand `[`, a few kilobytes),
which FastAPI answered with a 400 "There was an error parsing the body" naming nothing."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.serving.conftest import auth

LEAD = {"id": "L1", "fields": {"Country": "India", "TotalVisits": 4}}
DEAL = {"id": "D1", "stage": "Engaging", "created_at": "2024-01-02", "amount": 5000.0}
PUSH = {"stage": "Engaging", "updated_at": "2024-02-01", "created_at": "2024-01-02"}
TARGET = {"level": "team", "name": "Team Costa", "period": "2024-Q3", "amount": 1000}

#: (method, path, role, a well-formed body) of each route that reads a JSON body.
ROUTES = {
    "lead": ("POST", "/v1/leads/score", "scorer", LEAD),
    "leads": ("POST", "/v1/leads/score/batch", "scorer", {"leads": [LEAD]}),
    "deal": ("POST", "/v1/deals/score", "scorer", DEAL),
    "deals": ("POST", "/v1/deals/score/batch", "scorer", {"deals": [DEAL]}),
    "push": ("PUT", "/v1/opportunities/D1", "scorer", PUSH),
    "pushes": ("POST", "/v1/opportunities/batch", "scorer", {"opportunities": [{**PUSH, "id": 1}]}),
    "targets": ("PUT", "/v1/targets", "admin", {"targets": [TARGET]}),
    "key": ("POST", "/v1/keys", "admin", {"role": "scorer", "name": "CRM"}),
}
DEEP = 1500  # past Python's recursion limit (1000), well inside the test's 10,000-byte bodies


def deep(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def send(client: TestClient, keys: dict[str, str], route: str, body: str) -> Response:
    method, path, role, _ = ROUTES[route]
    headers = {**auth(keys[role]), "Content-Type": "application/json"}
    return client.request(method, path, content=body, headers=headers)


def problems(response: Response) -> dict[str, str]:
    """The 422's bad fields and what is wrong with each."""
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "invalid request"
    return {e["field"]: e["problem"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("route", "body", "field", "said"),
    [
        ("lead", '{"fields": {"Country": %s}}', "body.fields.Country", "must be text, true"),
        ("leads", '{"leads": [{"fields": {"x": %s}}]}', "body.leads.0.fields.x", "must be text"),
        ("deal", '{"stage": "Engaging", "amount": %s}', "body.amount", "valid number"),
        (
            "deals",
            '{"deals": [{"stage": "Engaging", "amount": %s}]}',
            "body.deals.0.amount",
            "number",
        ),
        ("deal", '{"stage": "Engaging", "attributes": {"x": %s}}', "body.attributes.x", "not an"),
        ("push", '{"stage": %s, "updated_at": "2024-02-01"}', "body.stage", "valid string"),
        ("pushes", '{"opportunities": %s}', "body.opportunities.0", "valid dictionary"),
        (
            "targets",
            '{"targets": [{"level": "all", "period": "2024-Q3", "amount": %s}]}',
            "body.targets.0.amount",
            "valid number",
        ),
        ("key", '{"role": "scorer", "name": %s}', "body.name", "valid string"),
    ],
)
def test_a_value_nested_past_what_json_reads_is_422_naming_its_field(
    client: TestClient, api_keys: dict[str, str], route: str, body: str, field: str, said: str
) -> None:
    found = problems(send(client, api_keys, route, body.replace("%s", deep())))
    assert list(found) == [field]
    assert said in found[field]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_whole_body_nested_too_deep_is_422_naming_the_body(
    client: TestClient, api_keys: dict[str, str], route: str
) -> None:
    found = problems(send(client, api_keys, route, deep()))
    assert list(found) == ["body"]
    assert "valid dictionary" in found["body"]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_list_where_the_body_is_an_object_is_422_naming_the_body(
    client: TestClient, api_keys: dict[str, str], route: str
) -> None:
    body = ROUTES[route][3]
    found = problems(send(client, api_keys, route, json.dumps([body])))
    assert list(found) == ["body"]


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("wrong", [{"a": 1}, [1, 2], {"a": {"b": [1]}}])
def test_an_object_or_a_list_where_a_field_takes_a_value_is_422_naming_the_field(
    client: TestClient, api_keys: dict[str, str], route: str, wrong: object
) -> None:
    """Every value the body holds that is not an object or a list of its own, in turn."""
    body = ROUTES[route][3]
    for path in value_paths(body):
        found = problems(send(client, api_keys, route, json.dumps(replaced(body, path, wrong))))
        field = ".".join(["body", *map(str, path)])
        assert list(found) == [field], (path, found)


def test_an_attribute_of_no_type_a_deal_takes_is_one_422_naming_it(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    """One error at the attribute, not one per type it could have been (`x.str`, `x.float`)."""
    for wrong in ([1], {"a": 1}):
        body = {"opportunities": [{**PUSH, "id": 1, "attributes": {"x": wrong}}]}
        found = problems(send(client, api_keys, "pushes", json.dumps(body)))
        assert found == {
            "body.opportunities.0.attributes.x": "must be text, true, false, null or a number "
            "(not an object or a list)"
        }


def test_a_body_nested_but_within_reach_still_answers_as_before(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    """Below the recursion limit nothing changed: the same 422 as before, from FastAPI's own
    reading of the body."""
    body = '{"fields": {"Country": %s}}'.replace("%s", deep(50))
    found = problems(send(client, api_keys, "lead", body))
    assert list(found) == ["body.fields.Country"]


def value_paths(body: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """The path of each value in the body that is not itself an object or a list."""
    if isinstance(body, dict):
        return [p for k, v in body.items() for p in value_paths(v, (*path, k))]
    if isinstance(body, list):
        return [p for i, v in enumerate(body) for p in value_paths(v, (*path, i))]
    return [path]


def replaced(body: object, path: tuple[str | int, ...], value: object) -> object:
    """The body with the value at `path` replaced (a deep copy: the module's bodies stay)."""
    copy = json.loads(json.dumps(body))
    at = copy
    for step in path[:-1]:
        at = at[step]
    at[path[-1]] = value
    return copy


def test_brackets_inside_text_are_not_nesting(client: TestClient, api_keys: dict[str, str]) -> None:
    """Only the body's own arrays and objects count: text holding brackets and an escaped quote
    is a value like any other, and the field nested too deep is still the one named."""
    body = '{"fields": {"note": "[[{{\\"]]", "x": %s}}'.replace("%s", deep())
    found = problems(send(client, api_keys, "lead", body))
    assert list(found) == ["body.fields.x"]
