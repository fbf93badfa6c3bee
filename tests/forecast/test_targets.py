"""Targets (quotas): set, imported and read back per group and period, checked against the
dataset's deals, and used by the revenue forecast."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from forecast.data import store
from forecast.data.generator import generate_pipeline
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.errors import InsufficientHistory, InvalidInput, NotFound, UnknownPeriod
from forecast.forecasting.service import forecast_against_targets
from forecast.forecasting.targets import (
    import_targets,
    list_targets,
    set_targets,
    targets_for,
)
from forecast.history import load_deal_history


@pytest.fixture
def crm(engine: Engine) -> Engine:
    frame = pd.DataFrame(
        [
            {
                "id": "D1",
                "stage": "Prospecting",
                "created_at": "2017-05-01",
                "owner": "Ann Lee",
                "team": "Team East",
                "product": "GTX Pro",
                "region": "East",
                "amount": 100.0,
            },
            {
                "id": "D2",
                "stage": "Closing",
                "created_at": "2017-05-02",
                "owner": "Bob Ray",
                "team": "Team West",
                "product": "MG Special",
                "region": "West",
                "amount": 200.0,
            },
        ]
    )
    import_frame(engine, frame, load_mapping("canonical"), dataset="crm")
    return engine


TEAM_Q3 = {"level": "team", "name": "Team East", "period": "2017-Q3", "amount": 250_000}


def test_targets_are_stored_per_group_and_period_and_read_back(crm):
    written = set_targets(
        crm,
        [
            TEAM_Q3,
            {"level": "rep", "name": "Bob Ray", "period": "2017-07", "amount": 40_000},
            {"level": "all", "period": "2017", "amount": 2_000_000},
            {"level": "product", "name": "GTX Pro", "period": "2017q3", "amount": 1},
            {"level": "region", "name": "West", "period": "2017-Q3", "amount": 0},
        ],
    )
    assert (written.dataset, written.inserted, written.changed) == ("crm", 5, 0)
    dataset, rows = list_targets(crm)
    assert dataset == "crm"
    assert [(t.period, t.level, t.name, t.amount, t.currency) for t in rows] == [
        ("2017", "all", "total", 2_000_000.0, "USD"),
        ("2017-07", "rep", "Bob Ray", 40_000.0, "USD"),
        ("2017-Q3", "team", "Team East", 250_000.0, "USD"),
        ("2017-Q3", "product", "GTX Pro", 1.0, "USD"),  # "2017q3" is stored as 2017-Q3
        ("2017-Q3", "region", "West", 0.0, "USD"),
    ]
    assert all(isinstance(t.updated_at, datetime) for t in rows)
    assert [t.name for t in list_targets(crm, period="2017-Q3", level="team")[1]] == ["Team East"]


def test_setting_a_target_again_replaces_it_and_an_equal_one_changes_nothing(crm):
    set_targets(crm, [TEAM_Q3])
    first = list_targets(crm)[1][0]
    same = set_targets(crm, [TEAM_Q3])
    assert (same.inserted, same.changed, same.unchanged) == (0, 0, 1)
    assert list_targets(crm)[1][0].updated_at == first.updated_at
    raised = set_targets(crm, [{**TEAM_Q3, "amount": 300_000}])
    assert (raised.inserted, raised.changed) == (0, 1)
    assert [t.amount for t in list_targets(crm)[1]] == [300_000.0]


def test_the_forecast_reads_the_targets_of_its_period_and_grouping(crm):
    set_targets(
        crm,
        [
            TEAM_Q3,
            {"level": "all", "period": "2017-Q3", "amount": 900},
            {"level": "team", "name": "Team West", "period": "2017-Q4", "amount": 5},
            {"level": "rep", "name": "Ann Lee", "period": "2017-Q3", "amount": 7},
        ],
    )
    with crm.connect() as conn:
        assert targets_for(conn, "crm", "2017-Q3", "team") == {
            "Team East": 250_000.0,
            "total": 900.0,
        }
        assert targets_for(conn, "crm", "2017-q3", None) == {"total": 900.0}
        assert targets_for(conn, "crm", "2017-Q3", "rep") == {"Ann Lee": 7.0, "total": 900.0}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            {**TEAM_Q3, "name": "Team Esat"},
            "unknown team 'Team Esat': no deal of dataset 'crm' has it; did you mean 'Team East'",
        ),
        (
            {"level": "rep", "name": "Zed", "period": "2017", "amount": 1},
            "unknown rep 'Zed': no deal of dataset 'crm' has it; known: Ann Lee, Bob Ray",
        ),
        ({**TEAM_Q3, "amount": -5}, "amount -5 is negative"),
        ({**TEAM_Q3, "amount": "lots"}, "amount 'lots' is not a number"),
        ({**TEAM_Q3, "amount": float("nan")}, "is not a number"),
        ({**TEAM_Q3, "amount": 1e300}, "amount 1e+300 is not finite or beyond 1e+15"),
        ({**TEAM_Q3, "amount": "Infinity"}, "amount 'Infinity' is not finite or beyond 1e+15"),
        ({**TEAM_Q3, "period": "2017-Q5"}, "unknown period '2017-Q5'"),
        ({**TEAM_Q3, "period": "0000"}, "unknown period '0000': the year is out of range"),
        ({**TEAM_Q3, "level": "galaxy"}, "level 'galaxy' is not one of"),
        ({**TEAM_Q3, "name": ""}, "a team target needs the team's name"),
        (
            {"level": "all", "name": "Team East", "period": "2017", "amount": 1},
            "its name must be 'total'",
        ),
        (
            {**TEAM_Q3, "currency": "EUR"},
            "currency EUR differs from the deals of dataset 'crm' (USD)",
        ),
    ],
)
def test_a_bad_target_is_rejected_naming_it_and_nothing_is_written(crm, target, message):
    with pytest.raises(InvalidInput) as err:
        set_targets(crm, [{**TEAM_Q3, "period": "2017-Q4"}, target])
    assert message in str(err.value)
    assert "targets[1]" in str(err.value) and "nothing was written" in str(err.value)
    assert list_targets(crm)[1] == []


def test_the_same_target_twice_in_one_batch_is_rejected(crm):
    with pytest.raises(
        InvalidInput,
        match=r"targets\[1\]: the same team 'Team East' and period "
        r"2017-Q3 as targets\[0\]",
    ):
        set_targets(crm, [TEAM_Q3, {**TEAM_Q3, "period": "2017q3"}])


def test_targets_need_an_opportunities_dataset(engine):
    with pytest.raises(NotFound, match="no opportunities yet"):
        set_targets(engine, [TEAM_Q3])
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        list_targets(engine, dataset="nope")


def test_a_csv_of_targets_is_imported_in_one_transaction(crm, tmp_path: Path):
    good = tmp_path / "targets.csv"
    good.write_text(
        "level,name,period,amount\nteam,Team East,2017-Q3,250000\n"
        'all,,2017-Q3,"1,200,000"\nrep,Bob Ray,2017-07,40000\n'
    )
    written = import_targets(crm, good)
    assert (written.inserted, len(list_targets(crm)[1])) == (3, 3)
    assert {t.name: t.amount for t in list_targets(crm)[1]}["total"] == 1_200_000.0

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Level,Name,Period,Amount\nteam,Team East,2017-Q3,1\n"
        "team,Team Nowhere,2017-Q3,1\nrep,Bob Ray,2017-13,-4\n"
    )
    with pytest.raises(InvalidInput) as err:
        import_targets(crm, bad)
    message = str(err.value)
    assert f"{bad}:3: unknown team 'Team Nowhere'" in message
    assert f"{bad}:4: unknown period '2017-13'" in message
    assert f"{bad}:4: amount '-4' is negative" in message
    assert {t.name: t.amount for t in list_targets(crm)[1]}["Team East"] == 250_000.0


def test_a_csv_target_beyond_1e15_or_not_finite_is_named_by_its_line_among_the_others(
    crm, tmp_path: Path
):
    """The bound the API's PUT /v1/targets refuses with 422 (before: "1e300" was stored)."""
    file = tmp_path / "targets.csv"
    file.write_text(
        "level,name,period,amount\nregion,West,2017-Q1,1e300\nteam,Team East,2017-Q3,1e15\n"
        "all,total,2017-Q3,Infinity\nteam,Team Nowhere,2017-Q3,5\n"
    )
    with pytest.raises(InvalidInput) as err:
        import_targets(crm, file)
    message = str(err.value)
    assert message.startswith("3 problem(s) in the targets; nothing was written")
    assert f"{file}:2: amount '1e300' is not finite or beyond 1e+15" in message
    assert f"{file}:4: amount 'Infinity' is not finite or beyond 1e+15" in message
    assert f"{file}:5: unknown team 'Team Nowhere'" in message
    assert list_targets(crm)[1] == []


def test_a_csv_without_the_needed_columns_says_which(crm, tmp_path: Path):
    file = tmp_path / "t.csv"
    file.write_text("team,quarter,amount\nTeam East,2017-Q3,5\n")
    with pytest.raises(InvalidInput, match=r"missing column\(s\) \['level', 'name', 'period'\]"):
        import_targets(crm, file)
    with pytest.raises(InvalidInput, match="no such file"):
        import_targets(crm, tmp_path / "absent.csv")


# --- the forecast against the stored targets ----------------------------------------------------


@pytest.fixture(scope="module")
def pipeline_store(tmp_path_factory) -> Engine:
    """A generated pipeline (2023–2024) with history enough to forecast, on SQLite."""
    eng = store.make_engine(f"sqlite:///{tmp_path_factory.mktemp('fc') / 'store.db'}")
    store.migrate(eng)
    pipeline = generate_pipeline(700, seed=11)
    import_frame(
        eng,
        pipeline.opportunities.drop(columns=["status"]),
        load_mapping("canonical"),
        dataset="crm",
    )
    set_targets(
        eng,
        [
            {"level": "team", "name": "Team Brennan", "period": "2024-Q3", "amount": 150_000},
            {"level": "all", "period": "2024-Q3", "amount": 900_000},
            {"level": "team", "name": "Team Brennan", "period": "2024-Q4", "amount": 1},
        ],
    )
    yield eng
    eng.dispose()


def _plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool, datetime)


def test_the_forecast_shows_each_group_against_its_target(pipeline_store):
    result = forecast_against_targets(pipeline_store, "2024-Q3", by="team")
    data = result.to_dict()
    assert _plain(data)
    json.dumps(data, default=str)
    assert data["dataset"] == "crm" and data["period"]["label"] == "2024-Q3"
    assert data["currency"] == "USD"  # every deal's: the amounts' unit
    assert data["as_of"] == "2024-07-01"  # a past period is forecast as of its start
    lines = {g["group"]: g for g in data["groups"]}
    assert lines["Team Brennan"]["target"] == 150_000.0
    assert 0 <= lines["Team Brennan"]["p_target"] <= 1
    assert all(g["target"] is None for name, g in lines.items() if name != "Team Brennan")
    assert data["total"]["target"] == 900_000.0
    assert [(t["level"], t["name"]) for t in data["targets"]] == [
        ("all", "total"),
        ("team", "Team Brennan"),
    ]


def test_one_group_is_that_groups_line_of_the_full_forecast(pipeline_store):
    full = forecast_against_targets(pipeline_store, "2024-Q3", by="team").to_dict()
    one = forecast_against_targets(
        pipeline_store, "2024-Q3", by="team", group="Team Brennan"
    ).to_dict()
    line = next(g for g in full["groups"] if g["group"] == "Team Brennan")
    assert one["group"] == "Team Brennan"
    assert one["groups"] == [line] and one["total"] == line
    assert [t["name"] for t in one["targets"]] == ["Team Brennan"]


def test_a_group_with_no_deals_is_not_found_and_named(pipeline_store):
    with pytest.raises(
        NotFound,
        match="no deals for team 'Team Brenan' in dataset 'crm' at "
        "all; did you mean 'Team Brennan'",
    ):
        forecast_against_targets(pipeline_store, "2024-Q3", by="team", group="Team Brenan")
    with pytest.raises(
        NotFound, match="no deals for team 'Team Brennan' .* created before 2020-01-01"
    ):
        forecast_against_targets(pipeline_store, "2020-Q1", by="team", group="Team Brennan")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"period": "2024-Q7"}, UnknownPeriod, "unknown period '2024-Q7'"),
        ({"period": "9999"}, UnknownPeriod, "the year is out of range"),
        ({"period": "1066"}, InsufficientHistory, "no deal had closed before 1066-01-01"),
        ({"period": "2024-Q3", "group": "Team Brennan"}, InvalidInput, "needs `by`"),
        ({"period": "2024-Q3", "by": "colour"}, InvalidInput, "cannot group by 'colour'"),
        ({"period": "2024-Q3", "as_of": "not a date"}, InvalidInput, "as_of 'not a date'"),
        ({"period": "2024-Q3", "dataset": "nope"}, NotFound, "no dataset named 'nope'"),
    ],
)
def test_bad_forecast_requests_are_named(pipeline_store, kwargs, error, message):
    with pytest.raises(error, match=message):
        forecast_against_targets(pipeline_store, **kwargs)


# --- the command line ---------------------------------------------------------------------------


class Kept:
    """The smallest `BuildCache`: a dict that builds what it lacks."""

    def __init__(self) -> None:
        self.values: dict = {}

    def get(self, key, build):  # noqa: ANN001, ANN201
        if key not in self.values:
            self.values[key] = build()
        return self.values[key]


def test_models_are_refitted_only_when_what_was_known_before_as_of_changes(tmp_path, monkeypatch):
    from forecast.data.sync import sync_opportunities
    from forecast.forecasting import fitted

    engine = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate(engine)
    pipeline = generate_pipeline(400, seed=2)
    import_frame(
        engine,
        pipeline.opportunities.drop(columns=["status"]),
        load_mapping("canonical"),
        dataset="crm",
    )
    fits = []
    fit = fitted.fit_forecast_models
    monkeypatch.setattr(
        fitted, "fit_forecast_models", lambda *a, **k: fits.append(1) or fit(*a, **k)
    )
    as_of = "2024-12-01"
    cache = Kept()
    first = forecast_against_targets(engine, "2024-12", as_of=as_of, models_cache=cache).to_dict()[
        "total"
    ]
    opps = store.load_opportunities(engine, "crm")
    open_then = opps[(opps["created_at"] < as_of) & (opps["status"] == "open")].iloc[0]
    deal = {
        "id": open_then["id"],
        "stage": open_then["stage"],
        "created_at": str(open_then["created_at"]),
        "updated_at": "2025-01-01T00:00:00",
        "amount": float(open_then["amount"]) + 10_000,
        "team": open_then["team"],
        "owner": open_then["owner"],
        "product": open_then["product"],
    }
    # A push after as_of is not known at as_of: the same models, and the same forecast (the
    # deal's amount as of then is the one it had before the push).
    sync_opportunities(engine, [deal], now=datetime(2025, 1, 2))
    stored = load_deal_history(engine, "crm", check_leaks=False).deals.set_index("id")
    assert stored.loc[deal["id"], "amount"] == pytest.approx(deal["amount"])
    second = forecast_against_targets(engine, "2024-12", as_of=as_of, models_cache=cache)
    assert len(fits) == 1
    assert second.to_dict()["total"] == first
    shown = second.forecast.deals.set_index("id").loc[deal["id"], "amount"]
    assert shown == pytest.approx(float(open_then["amount"]))
    # A deal created before as_of is news about that time: the models are fitted again, and the
    # pipeline, read fresh, holds it.
    sync_opportunities(
        engine, [{**deal, "id": "LATE", "created_at": "2024-11-01"}], now=datetime(2025, 1, 2)
    )
    third = forecast_against_targets(engine, "2024-12", as_of=as_of, models_cache=cache).to_dict()[
        "total"
    ]
    assert len(fits) == 2
    assert third["deals"] == first["deals"] + 1
    assert third["pipeline_value"] == pytest.approx(first["pipeline_value"] + deal["amount"])


def test_a_forecast_of_deals_in_several_currencies_says_they_are_added_unconverted(tmp_path):
    engine = store.make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate(engine)
    deals = generate_pipeline(400, seed=2).opportunities.drop(columns=["status"])
    deals["currency"] = ["EUR" if i % 5 == 0 else "USD" for i in range(len(deals))]
    import_frame(engine, deals, load_mapping("canonical"), dataset="crm")
    data = forecast_against_targets(engine, "2024-12", as_of="2024-12-01").to_dict()
    assert data["currency"] is None
    [said] = [n for n in data["notes"] if "currencies" in n]
    assert "2 currencies (USD 320, EUR 80 deals)" in said and "unconverted" in said


def test_a_targets_file_names_its_rep_however_the_unicode_of_the_name_was_written(
    engine: Engine, tmp_path: Path
):
    """The rep "Zoë Fischer" (NFC) of the deals, written in NFD with a no-break space in a
    targets file: her target, as the import reads names."""
    frame = pd.DataFrame(
        [{"id": "D1", "stage": "Prospecting", "created_at": "2017-05-01", "owner": "Zoë Fischer"}]
    )
    import_frame(engine, frame, load_mapping("canonical"), dataset="crm")
    file = tmp_path / "targets.csv"
    file.write_text("level,name,period,amount\nrep,Zoe\u0308\u00a0Fischer,2017-Q3,5000\n")
    written = import_targets(engine, file, dataset="crm")
    assert [t.name for t in written.targets] == ["Zoë Fischer"]
    with engine.connect() as conn:
        assert targets_for(conn, "crm", "2017-Q3", "rep") == {"Zoë Fischer": 5000.0}
