"""A query parameter a page or a GET route does not read is refused (422 naming it, those the
route takes, and what was likely meant), never ignored: ignored, `/v1/forecast?team=X` answered
the company's total as if it were team X's. What the dashboard's own links and forms send is
still taken."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.serving.conftest import auth, import_generated
from tests.serving.test_dashboard import sign_in

UNKNOWN = "not_a_parameter"


def test_a_team_asked_for_by_a_name_the_forecast_does_not_read_is_refused_with_its_filter(
    client, api_keys
):
    response = client.get(
        "/v1/forecast",
        params={"period": "2024-Q1", "team": "Team Costa"},
        headers=auth(api_keys["viewer"]),
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "unknown query parameter 'team'" in detail
    for taken in ("period", "by", "group", "as_of", "new_deals", "dataset"):
        assert taken in detail
    assert "by=team&group=Team Costa" in detail  # the forecast's real filter for one team


def test_a_misspelt_parameter_is_named_with_the_one_meant(client, api_keys):
    response = client.get("/v1/deals/at-risk?limt=5&datset=crm", headers=auth(api_keys["viewer"]))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "unknown query parameters 'limt', 'datset'" in detail
    assert "did you mean 'limit'?" in detail and "did you mean 'dataset'?" in detail


#: The dashboard's pages and downloads (not in the OpenAPI spec).
DASHBOARD_GETS = (
    "/",
    "/login",
    "/dashboard/pipeline",
    "/dashboard/pipeline.csv",
    "/dashboard/forecast.csv",
    "/assets/plotly.min.js",
)


def test_every_get_route_under_v1_and_every_dashboard_page_refuses_an_unknown_parameter(
    client, api_keys
):
    spec = client.get("/openapi.json").json()["paths"]
    api = [path for path, ops in spec.items() if path.startswith("/v1/") and "get" in ops]
    assert {"/v1/forecast", "/v1/kpis", "/v1/keys", "/v1/targets"} <= set(api)
    for path in [*api, *DASHBOARD_GETS]:
        url = re.sub(r"\{\w+\}", "x", path)  # a path parameter: any value
        response = client.get(
            f"{url}?{UNKNOWN}=1", headers=auth(api_keys["admin"]), follow_redirects=False
        )
        assert response.status_code == 422, path
        assert f"unknown query parameter '{UNKNOWN}'" in unescape(response.text), path


def test_a_dashboard_page_says_it_on_a_page_and_a_download_in_plain_text(client, api_keys):
    page = client.get(f"/?teem=x&{UNKNOWN}=1")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "did you mean &#39;team&#39;?" in page.text and 'href="/"' in page.text
    download = client.get(f"/dashboard/forecast.csv?{UNKNOWN}=1")
    assert download.status_code == 422 and download.headers["content-type"].startswith("text/")
    assert "takes dataset, freq, period, team" in download.text


def test_known_parameters_are_still_taken(client, api_keys):
    assert client.get("/login?next=/").status_code == 200
    viewer = auth(api_keys["viewer"])
    # No data: the route itself answers (404, nothing imported), not the parameter check.
    response = client.get(
        "/v1/forecast?period=2024-Q1&by=team&group=A&as_of=2024-01-01&new_deals=false&dataset=x",
        headers=viewer,
    )
    assert "unknown query parameter" not in response.text
    # The scoring routes read their `dataset` themselves; it is still theirs to read.
    scored = client.post("/v1/leads/score?dataset=nope", json={}, headers=auth(api_keys["scorer"]))
    assert "unknown query parameter" not in scored.text


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/v1/forecast", "period=2025-Q1&period=2025-Q2", "period"),
        ("/v1/deals/at-risk", "limit=5&dataset=crm&limit=6", "limit"),
        ("/v1/kpis", "by=team&by=rep", "by"),
    ],
)
def test_a_parameter_given_twice_is_refused_naming_it(client, api_keys, path, query, name):
    # Taken silently, the last one won: period=2025-Q1&period=2025-Q2 answered 2025-Q2.
    response = client.get(f"{path}?{query}", headers=auth(api_keys["viewer"]))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"query parameter '{name}' (2 times) given more than once" in detail


def test_a_dashboard_page_refuses_a_parameter_given_twice(client, api_keys):
    assert sign_in(client, api_keys["viewer"]).status_code == 303
    page = client.get("/?period=2025-Q1&period=2025-Q2")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "query parameter &#39;period&#39; (2 times) given more than once" in page.text
    download = client.get("/dashboard/forecast.csv?team=A&team=B")
    assert download.status_code == 422 and "'team' (2 times)" in download.text
    pipeline = client.get("/dashboard/pipeline?from=2024-01-01&from=2024-02-01")
    assert pipeline.status_code == 422 and "&#39;from&#39; (2 times)" in pipeline.text


@pytest.mark.slow
def test_every_link_and_form_of_the_dashboard_pages_is_taken(client, settings, api_keys):
    import_generated(settings)
    assert sign_in(client, api_keys["viewer"]).status_code == 303
    checked = 0
    for start in ("/", "/dashboard/pipeline"):
        html = client.get(start).text
        assert "unknown query parameter" not in html
        for url in _links_and_forms(html):
            response = client.get(url, follow_redirects=False)
            assert "unknown query parameter" not in response.text, url
            assert "more than once" not in response.text, url
            assert response.status_code in (200, 303), (url, response.status_code)
            checked += 1
    assert checked >= 8  # the CSV links, the pipeline link, both filter forms


def _links_and_forms(html: str) -> list[str]:
    """Every same-site link with a query string, and each GET form submitted with its fields."""
    urls = [unescape(h) for h in re.findall(r'href="(/[^"]*\?[^"]*)"', html)]
    for action, body in re.findall(r'<form method="get" action="([^"]+)"(.*?)</form>', html, re.S):
        urls.append(f"{action}?{urlencode(_submitted(body))}")
    return [u for u in urls if parse_qsl(urlsplit(u).query, keep_blank_values=True)]


def _submitted(form: str) -> list[tuple[str, str]]:
    """What a browser sends for a GET form as rendered, each field in order (repeats kept): a
    select's selected option (else its first), an input's value."""
    fields = []
    for tag in re.findall(r"<select\b.*?</select>|<input\b[^>]*>", form, re.S):
        name = re.search(r'\bname="([^"]+)"', tag)
        if name is None:
            continue
        if tag.startswith("<input"):
            value = re.search(r'\bvalue="([^"]*)"', tag)
            fields.append((name.group(1), unescape(value.group(1)) if value else ""))
            continue
        options = re.findall(r'<option value="([^"]*)"\s*(selected)?', tag)
        chosen = next((v for v, sel in options if sel), options[0][0] if options else "")
        fields.append((name.group(1), unescape(chosen)))
    return fields
