"""A team or group named with spaces around it (a link or a form that kept them) is the team:
the read routes match the name trimmed, and a misspelt one still gets the likely name."""

from __future__ import annotations

import pytest

from tests.serving.conftest import auth, import_generated
from tests.serving.test_dashboard import sign_in

TEAM = "Team Novak"  # a team of the generated pipeline
READS = [
    ("/v1/deals/at-risk", {"team": f" {TEAM} "}),
    ("/v1/forecast", {"period": "2024-Q4", "by": "team", "group": f" {TEAM} "}),
    ("/v1/forecast/history", {"period": "2024-Q4", "by": "team", "group": f" {TEAM} "}),
    ("/v1/pipeline/waterfall", {"from": "2024-10-01", "by": "team", "group": f"  {TEAM}\t"}),
]


@pytest.mark.parametrize(("path", "params"), READS)
def test_a_team_sent_with_spaces_around_it_is_that_team(client, settings, api_keys, path, params):
    import_generated(settings)
    response = client.get(
        path, params={"dataset": "crm", **params}, headers=auth(api_keys["viewer"])
    )
    assert response.status_code == 200, response.text
    said = response.json()
    assert TEAM in (
        said.get("team"),
        said.get("group"),
        *[g.get("group") for g in said.get("groups", [])],
    )


@pytest.mark.parametrize(("path", "params"), READS)
def test_a_misspelt_team_with_spaces_around_it_still_gets_the_likely_name(
    client, settings, api_keys, path, params
):
    import_generated(settings)
    misspelt = {k: (" team novak " if k in ("team", "group") else v) for k, v in params.items()}
    response = client.get(
        path, params={"dataset": "crm", **misspelt}, headers=auth(api_keys["viewer"])
    )
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert "'team novak'" in detail  # the name as meant, trimmed
    if path != "/v1/pipeline/waterfall":  # the routes that suggest one
        assert "did you mean 'Team Novak'" in detail


def test_a_team_of_only_spaces_is_refused_naming_the_field(client, settings, api_keys):
    import_generated(settings)
    response = client.get(
        "/v1/forecast",
        params={"dataset": "crm", "period": "2024-Q4", "by": "team", "group": "   "},
        headers=auth(api_keys["viewer"]),
    )
    assert response.status_code == 422, response.text
    assert "not only spaces" in response.text and "group" in response.text


def test_the_dashboard_shows_a_team_sent_with_spaces_around_it(client, settings, api_keys):
    import_generated(settings)
    assert sign_in(client, api_keys["viewer"]).status_code == 303
    for page in ("/", "/dashboard/pipeline"):
        response = client.get(page, params={"dataset": "crm", "team": f" {TEAM} "})
        assert response.status_code == 200, response.text


def test_a_team_named_as_the_import_reads_names_is_that_team(client, settings, api_keys):
    """Two spaces inside, or a no-break space copied from a web page: the import reads the
    deals' names so (`clean_name`), and the read routes read the name asked for the same way."""
    import_generated(settings)
    for sent in ("Team  Novak", "Team\u00a0Novak"):
        response = client.get(
            "/v1/deals/at-risk",
            params={"dataset": "crm", "team": sent},
            headers=auth(api_keys["viewer"]),
        )
        assert response.status_code == 200, (sent, response.text)
        assert response.json()["team"] == TEAM
