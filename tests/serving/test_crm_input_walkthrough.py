"""What a CRM sends that looked right and was read wrong: the same name written two Unicode
ways, a boolean or a formatted text where a number goes, dates out of order or a blank written
as 0, and bodies FastAPI could not parse. Each is read as the import reads it, or refused naming
the field (a 422) or saying what was wrong with the body (a 400)."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.settings import Settings
from tests.serving.conftest import auth
from tests.serving.test_sync import STATE, crm, scorer, settings  # noqa: F401

NFC_OWNER = "Zoë Ångström 李"
NFD_OWNER = "Zoe\u0308 A\u030angstro\u0308m 李"


def problems(response: Response) -> dict[str, str]:
    """The 422's bad fields and what is wrong with each."""
    assert response.status_code == 422, response.text
    return {e["field"]: e["problem"] for e in response.json()["errors"]}


def owners_and_teams(settings: Settings) -> pd.DataFrame:  # noqa: F811
    deals = store.load_opportunities(store.get_engine(settings), "crm")
    return deals.set_index("id")[["owner", "team"]]


# --- 1. one name, however it is written ---------------------------------------------------------


def test_a_pushed_nfd_name_lands_on_the_imported_nfc_rep(scorer, settings, api_keys):  # noqa: F811
    """A rep imported as typed on Windows (NFC) and pushed from a CRM that sends NFD is one rep,
    and "Team Fischer" one team however its spaces were written: the push and the import read
    names with the same function."""
    rows = [("I1", NFC_OWNER, "Team\u00a0Fischer"), ("I2", NFD_OWNER, "Team Fischer\u200b")]
    frame = pd.DataFrame(
        [
            {**STATE, "id": i, "stage": "Prospecting\u200b", "owner": o, "team": t}
            for i, o, t in rows
        ]
    )
    import_frame(store.get_engine(settings), frame, load_mapping("canonical"), dataset="crm")
    for deal, owner, team in [
        ("P1", NFD_OWNER, "Team Fischer\u200b"),
        ("P2", NFC_OWNER, "\ufeffTeam\u00a0Fischer "),
    ]:
        pushed = scorer.put(
            f"/v1/opportunities/{deal}", json={**STATE, "owner": owner, "team": team}
        )
        assert pushed.status_code == 200, pushed.text
    stored = owners_and_teams(settings).loc[["I1", "I2", "P1", "P2"]]
    assert set(stored["owner"]) == {NFC_OWNER}
    assert set(stored["team"]) == {"Team Fischer"}
    imported = store.load_opportunities(store.get_engine(settings), "crm").set_index("id")
    assert imported.loc[["I1", "I2"], "stage"].tolist() == ["Prospecting"] * 2
    viewer = auth(api_keys["viewer"])
    kpis = scorer.get("/v1/kpis?dataset=crm&by=owner", headers=viewer).json()
    reps = {g["group"]: g["deals"] for g in kpis["groups"]}
    assert reps == {NFC_OWNER: 4, "(none)": 1}


def test_a_stage_sent_with_odd_spaces_is_the_dataset_s_stage(scorer):  # noqa: F811
    """A stage is a name too: "Closing" with a zero-width space is Closing, not unknown."""
    pushed = scorer.put("/v1/opportunities/D1", json={**STATE, "stage": "Clo​sing "})
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["stage"] == "Closing"


# --- 2. and 3. numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["rep_probability", "amount", "csat", "list_price"])
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_where_a_number_goes_is_422_naming_the_field(scorer, field, value):  # noqa: F811
    """`true` is not a 100% rep call nor an amount of 1: lax parsing stored it as 1.0."""
    found = problems(scorer.put("/v1/opportunities/D1", json={**STATE, field: value}))
    assert list(found) == [f"body.{field}"]
    assert "a number, not true/false" in found[f"body.{field}"]
    batch = {"opportunities": [{"id": "D1", **STATE, field: value}]}
    found = problems(scorer.post("/v1/opportunities/batch", json=batch))
    assert list(found) == [f"body.opportunities.0.{field}"]


def test_a_number_sent_as_plain_text_is_still_read(scorer, settings):  # noqa: F811
    pushed = scorer.put("/v1/opportunities/D1", json={**STATE, "amount": "1234.50", "csat": "4"})
    assert pushed.status_code == 200, pushed.text
    deal = store.load_opportunities(store.get_engine(settings), "crm").set_index("id").loc["D1"]
    assert (deal["amount"], deal["csat"]) == (1234.5, 4.0)


@pytest.mark.parametrize("value", ["1,234.50", "$500", "1.234,50", "12 000"])
def test_a_formatted_number_is_422_saying_to_send_a_plain_json_number(scorer, value):  # noqa: F811
    """The push does not know the dataset's notation before it is stored ("1,234" is 1.234 in
    a decimal-comma export): a formatted amount is refused showing it, not "unable to parse"."""
    found = problems(scorer.put("/v1/opportunities/D1", json={**STATE, "amount": value}))
    said = found["body.amount"]
    assert "plain JSON number" in said and repr(value) in said, said


# --- 4. and 5. dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "said"),
    [
        ({"closed_at": "2024-02-01T00:00:00Z"}, "body.closed_at", "is before created_at"),
        ({"updated_at": "2024-02-01T00:00:00Z"}, "body.updated_at", "is before created_at"),
        (
            {"stage": "Won", "closed_at": "2024-03-20T00:00:00Z"},
            "body.closed_at",
            "is after updated_at",
        ),
        (
            {"expected_close_at": "2020-01-01"},
            "body.expected_close_at",
            "expected_close_at (2020-01-01T00:00:00) is before created_at",
        ),
    ],
)
def test_dates_out_of_order_are_422_at_the_field_the_message_is_about(
    scorer,  # noqa: F811
    change,
    field,
    said,
):
    found = problems(scorer.put("/v1/opportunities/D1", json={**STATE, **change}))
    assert list(found) == [field] and said in found[field], found
    batch = {"opportunities": [{"id": "D1", **STATE}, {"id": "D2", **STATE, **change}]}
    found = problems(scorer.post("/v1/opportunities/batch", json=batch))
    assert list(found) == [f"body.opportunities.1.{field.removeprefix('body.')}"], found


def test_an_expected_close_within_the_clock_skew_or_after_creation_is_kept(scorer):  # noqa: F811
    for expected in ("2024-02-29T12:00:00Z", "2024-03-01", "2024-05-31"):
        pushed = scorer.put("/v1/opportunities/D1", json={**STATE, "expected_close_at": expected})
        assert pushed.status_code == 200, (expected, pushed.text)


@pytest.mark.parametrize("epoch", [0, "1970-01-01T00:00:00Z", "1970-01-01"])
@pytest.mark.parametrize("field", ["created_at", "expected_close_at", "closed_at"])
def test_the_unix_epoch_is_refused_as_the_placeholder_it_is(scorer, field, epoch):  # noqa: F811
    """A CRM's blank date written as 0 is not a deal created in 1970 ("20088 days in
    Closing"); a real date of that day, at another time, is refused only as out of order."""
    change = {field: epoch, "stage": "Lost"} if field == "closed_at" else {field: epoch}
    found = problems(scorer.put("/v1/opportunities/D1", json={**STATE, **change}))
    assert list(found) == [f"body.{field}"]
    assert "the Unix epoch" in found[f"body.{field}"]


def test_a_date_near_the_epoch_is_not_called_a_placeholder(scorer):  # noqa: F811
    found = problems(
        scorer.put("/v1/opportunities/D1", json={**STATE, "expected_close_at": "1970-01-01T09:00"})
    )
    assert "epoch" not in found["body.expected_close_at"]
    assert "before created_at" in found["body.expected_close_at"]


def test_a_date_before_1900_is_still_refused_as_before_1900(scorer):  # noqa: F811
    found = problems(scorer.put("/v1/opportunities/D1", json={**STATE, "created_at": "1899-12-31"}))
    assert "is before 1900" in found["body.created_at"]


# --- 6. bodies that cannot be parsed ------------------------------------------------------------


def send_bytes(client: TestClient, body: bytes, **headers: str) -> Response:
    return client.put(
        "/v1/opportunities/D1",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


def test_a_body_not_in_utf8_is_400_saying_so(scorer):  # noqa: F811
    body = json.dumps({**STATE, "owner": "Zoë"}, ensure_ascii=False).encode("latin-1")
    answer = send_bytes(scorer, body)
    assert answer.status_code == 400
    said = answer.json()["detail"]
    assert said.startswith("the body is not UTF-8 JSON: byte 0xEB at position "), said


def test_a_compressed_body_is_400_saying_compressed_bodies_are_not_accepted(scorer):  # noqa: F811
    body = gzip.compress(json.dumps(STATE).encode())
    answer = send_bytes(scorer, body, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "the body is compressed (Content-Encoding: gzip): compressed bodies are not "
        "accepted; send the JSON uncompressed, as UTF-8 text, without a Content-Encoding header"
    }
    unsaid = send_bytes(scorer, body)  # gzip's own first bytes tell it without the header
    assert unsaid.status_code == 400 and "is compressed:" in unsaid.json()["detail"]


def test_a_number_too_long_to_read_is_400_saying_so(scorer):  # noqa: F811
    body = json.dumps(STATE)[:-1] + ', "csat": ' + "9" * 5000 + "}"
    answer = send_bytes(scorer, body.encode())
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(
        "a number in the body is too long: an integer of more than 4,300 digits"
    )


def test_a_lead_body_not_in_utf8_is_400_saying_so(scorer):  # noqa: F811
    """The lead lane hands a body it cannot read to the app: the same 400."""
    body = '{"fields": {"City": "Montréal"}}'.encode("cp1252")
    answer = scorer.post(
        "/v1/leads/score", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("the body is not UTF-8 JSON"), answer.text
