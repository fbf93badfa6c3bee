"""A mapping's `features:`: a CRM export's own columns kept as model inputs and shown in reasons
under the user's names. A generated canonical export gets two extra columns: "Original Traffic
Source", known at creation and tied to the outcome, and "Lost Reason Notes", blank only on open
deals (an export artefact that gives the outcome away)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import features as feat
from forecast.data import store, sync
from forecast.data.attributes import MAX_FEATURES
from forecast.data.generator import generate_pipeline, write_export
from forecast.data.importing import import_export, read_export
from forecast.data.mapping import load_mapping
from forecast.errors import InvalidInput
from forecast.history import DealHistory, load_deal_history
from forecast.modeling.deal_fitting import train_deals
from forecast.modeling.reasons import explain
from forecast.scoring import DealContext, deal_row
from forecast.settings import Settings

SOURCE = "Original Traffic Source"
NOTES = "Lost Reason Notes"
MAPPING = """
kind: opportunities
dataset: custom
main: opportunities.csv
history_file: stage_history.csv
columns: canonical
stages:
  open: [Prospecting, Qualification, Presentation, Demonstration, Closing]
  won: Won
  lost: Lost
"""


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """A 1,500-deal canonical export whose traffic source says much about the outcome."""
    folder = tmp_path_factory.mktemp("export")
    deals_file, _ = write_export(generate_pipeline(1500, seed=3), folder)
    deals = pd.read_csv(deals_file)
    rng = np.random.default_rng(0)
    won = (deals["stage"] == "Won").to_numpy()
    told = rng.uniform(size=len(deals)) < 0.75
    guess = rng.choice(["Organic search", "Paid social", "Referral"], len(deals))
    deals[SOURCE] = np.where(told, np.where(won, "Organic search", "Paid social"), guess)
    closed = deals["stage"].isin(["Won", "Lost"])
    notes = pd.Series(rng.choice(["price", "timing", "fit"], len(deals)))
    deals[NOTES] = notes.where(closed.to_numpy())
    deals.to_csv(deals_file, index=False)
    return folder


def mapping(folder: Path, features: str) -> Path:
    path = folder / f"mapping-{abs(hash(features))}.yaml"
    path.write_text(MAPPING + features + "\n")
    return path


@pytest.fixture(scope="module")
def engine(export, tmp_path_factory):
    engine = store.make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.db'}")
    store.migrate(engine)
    report = import_export(engine, export, mapping(export, f"features: [{SOURCE}, {NOTES}]"))
    assert report.written
    return engine


@pytest.fixture(scope="module")
def history(engine) -> DealHistory:
    return load_deal_history(engine, "custom")


# --- the mapping -------------------------------------------------------------------------------


def test_an_unknown_column_in_features_is_an_import_error_naming_it(export):
    with pytest.raises(InvalidInput, match="features: no column.*'Lead Temperature'"):
        read_export(export, mapping(export, f"features: [{SOURCE}, Lead Temperature]"))


def test_a_feature_named_like_a_canonical_field_is_refused(export):
    with pytest.raises(InvalidInput, match="'Region' \\(is region\\)"):
        load_mapping(mapping(export, f"features: {{'{SOURCE}': Region}}"))
    with pytest.raises(InvalidInput, match="already mapped to a canonical field"):
        load_mapping(mapping(export, "features: {amount: Deal size}"))


def test_too_many_features_are_refused_saying_the_limit(export):
    names = ", ".join(f"c{i}" for i in range(MAX_FEATURES + 1))
    with pytest.raises(InvalidInput, match=f"at most {MAX_FEATURES}"):
        load_mapping(mapping(export, f"features: [{names}]"))


def test_a_label_renames_the_column_everywhere_after_the_import(export):
    read = read_export(export, mapping(export, f"features: {{'{SOURCE}': Traffic source}}"))
    deals = read.opportunities
    assert "Traffic source" in deals and SOURCE not in deals
    assert read.options["features"] == ["Traffic source"]
    assert set(deals["Traffic source"].dropna()) == {"Organic search", "Paid social", "Referral"}


def test_numbers_are_numbers_after_the_mappings_value_parsing(tmp_path):
    (tmp_path / "deals.csv").write_text(
        "id;stage;created_at;Seats;Source\n"
        'D1;Prospecting;2024-01-02;"1.250,5";Web\nD2;Won;2024-01-03;3;\n'
    )
    (tmp_path / "stage_history.csv").write_text("opportunity_id,stage,entered_at\n")
    m = mapping(
        tmp_path, 'features: [Seats, Source]\ncsv: {separator: ";", decimal: ",", thousands: "."}'
    )
    text = (
        m.read_text()
        .replace("history_file: stage_history.csv\n", "")
        .replace("main: opportunities.csv", "main: deals.csv")
    )
    m.write_text(
        text.replace(
            "columns: canonical",
            "columns: {id: id, stage: stage, created_at: created_at, closed_at: created_at}",
        )
    )
    deals = read_export(tmp_path / "deals.csv", m).opportunities.set_index("id")
    assert pd.api.types.is_numeric_dtype(deals["Seats"])
    assert deals.loc["D1", "Seats"] == 1250.5 and deals.loc["D2", "Seats"] == 3.0
    assert deals.loc["D1", "Source"] == "Web" and pd.isna(deals.loc["D2", "Source"])


# --- stored, read back, pushed ------------------------------------------------------------------


def test_features_are_stored_and_read_back_as_columns(export, history):
    sent = pd.read_csv(export / "opportunities.csv").set_index("id")
    got = history.deals.set_index("id")
    assert history.attributes == (SOURCE, NOTES)
    assert (got[SOURCE] == sent.loc[got.index, SOURCE]).all()


def test_a_leaking_custom_column_is_left_out_with_the_reason(history):
    assert NOTES in history.left_out and SOURCE not in history.left_out
    assert any(n.startswith(f"{NOTES}: blank on 100% of open deals") for n in history.leak_notes)
    rows = feat.deal_training_rows(history)
    assert feat.deal_features(rows, history.left_out).columns[-1] == SOURCE
    assert NOTES not in feat.history_features(history)


def test_a_push_stores_declared_attributes_and_refuses_others(engine):
    deal = {
        "id": "PUSH-1",
        "stage": "Qualification",
        "created_at": "2024-12-01T00:00:00",
        "updated_at": "2024-12-20T00:00:00",
        "attributes": {SOURCE: "Referral"},
    }
    report = sync.sync_opportunities(
        engine, [deal], dataset="custom", now=pd.Timestamp("2025-01-01")
    )
    assert report.deals[0].outcome == "inserted"
    deals = store.load_opportunities(engine, "custom").set_index("id")
    assert deals.loc["PUSH-1", SOURCE] == "Referral" and pd.isna(deals.loc["PUSH-1", NOTES])
    moved = {**deal, "updated_at": "2024-12-21T00:00:00", "attributes": {SOURCE: "Organic search"}}
    again = sync.sync_opportunities(
        engine, [moved], dataset="custom", now=pd.Timestamp("2025-01-01")
    )
    assert again.deals[0].outcome == "changed"
    assert store.load_opportunities(engine, "custom").set_index("id").loc["PUSH-1", SOURCE] == (
        "Organic search"
    )
    with pytest.raises(InvalidInput, match=r"attributes: \['Deal Temperature'\] not features"):
        sync.sync_opportunities(
            engine,
            [{**moved, "attributes": {"Deal Temperature": "hot", SOURCE: "Referral"}}],
            dataset="custom",
        )
    with store.transaction(engine) as conn:  # the pushes keep the dataset's features
        assert store.get_dataset(conn, "custom")["options"]["features"] == [SOURCE, NOTES]


# --- a model input, in reasons under its own name, scored from a request ------------------------


@pytest.fixture(scope="module")
def trained(history, tmp_path_factory):
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("state"),
        lgbm_threads=2,
        min_won_deals=100,
        min_lost_deals=100,
        team_min_won_deals=100_000,
        team_min_lost_deals=100_000,
    )
    return train_deals(history, settings=settings)


def test_the_custom_column_is_a_model_input_and_a_reason_under_its_name(trained):
    assert SOURCE in trained.features and NOTES not in trained.features
    if hasattr(trained.model, "importance"):
        assert trained.model.importance().index[0] == SOURCE
    said = [r["sentence"] for e in trained.examples for side in ("for", "against") for r in e[side]]
    assert any(s.startswith(f"{SOURCE} = ") for s in said), said


def test_a_scoring_request_with_attributes_uses_them(history, trained):
    context = DealContext(
        "custom", history.stages, feat.win_rates_as_of(history, "2025-01-01"), history
    )
    deal = {"stage": "Presentation", "created_at": "2024-12-01", "amount": 20_000.0}
    rows = [
        deal_row(context, {**deal, "attributes": {SOURCE: source}}, as_of="2024-12-20")
        for source in ("Organic search", "Paid social")
    ]
    frame = pd.DataFrame(rows)
    p = trained.model.predict_proba(frame)[:, 1]
    assert p[0] > p[1] + 0.2
    if hasattr(trained.model, "parts"):
        top = explain(trained.model, frame.head(1), top=1)[0]["for"][0]
        assert top.sentence == f"{SOURCE} = Organic search: raises the score"
    with pytest.raises(InvalidInput, match=r"\['Deal Temperature'\] not features"):
        deal_row(context, {**deal, "attributes": {"Deal Temperature": "hot"}})


# --- leads ---------------------------------------------------------------------------------------


def test_a_lead_mappings_features_restrict_the_inputs_to_those_listed(tmp_path):
    (tmp_path / "leads.csv").write_text(
        "Lead Id,Converted,Lead Source,Country,Notes\n"
        "L1,1,Google,India,call back\nL2,0,Direct,France,\n"
    )
    base = "kind: leads\ndataset: l\ncolumns: {id: Lead Id, converted: Converted}\n"
    every = tmp_path / "every.yaml"
    every.write_text(base)
    chosen = tmp_path / "chosen.yaml"
    chosen.write_text(base + "features: {Lead Source: Source}\n")
    assert {"Lead Source", "Country", "Notes"} <= set(
        read_export(tmp_path / "leads.csv", every).leads
    )
    leads = read_export(tmp_path / "leads.csv", chosen).leads
    assert set(leads.columns) == {"id", "converted", "Source"}
    assert leads.set_index("id").loc["L1", "Source"] == "Google"


def test_batch_scoring_and_the_at_risk_rows_carry_the_custom_column(history):
    from forecast.batch_scoring import open_deal_rows
    from forecast.risk import _rows

    frame = open_deal_rows(history, "custom").frame
    assert SOURCE in frame and NOTES not in feat.history_features(history)
    assert frame[SOURCE].notna().any()
    assert SOURCE in _rows(feat.open_deal_rows(history, history.now()))[0]


def test_a_custom_text_column_distinct_on_every_deal_is_left_out_as_an_identifier(history):
    deals = history.deals.assign(**{"Deal Name": [f"deal {i}" for i in range(len(history.deals))]})
    options = {"features": [*history.options.features, "Deal Name"]}
    named = DealHistory.from_frames(deals, history.stage_log, history.stages, options=options)
    assert "Deal Name" in named.left_out and SOURCE not in named.left_out
    assert any(n.startswith("Deal Name: 1,5") and "identifier" in n for n in named.leak_notes)


def test_a_hubspot_export_keeps_its_own_columns_under_the_users_labels(tmp_path):
    from forecast.data.crm_exports import crm_stages, write_crm_export

    pipeline = generate_pipeline(300, seed=8, stages=crm_stages("hubspot"))
    file = write_crm_export(pipeline, tmp_path, "hubspot", seed=5)
    rows = pd.read_csv(file)
    rows["hs_analytics_source"] = np.where(np.arange(len(rows)) % 3, "ORGANIC_SEARCH", "PAID")
    rows.to_csv(file, index=False)
    m = tmp_path / "hubspot.yaml"
    m.write_text(
        "preset: hubspot\ndataset: hs\n"
        f"features: {{hs_analytics_source: {SOURCE}, Deal Type: Deal Type}}\n"
    )
    read = read_export(file, m)
    history = DealHistory.from_frames(
        read.opportunities, read.history, read.stages, options=read.options
    )
    assert history.attributes == (SOURCE, "Deal Type")
    assert set(history.deals[SOURCE]) == {"ORGANIC_SEARCH", "PAID"}
    rows_at = feat.open_deal_rows(history, history.now())
    assert {SOURCE, "Deal Type"} <= set(feat.deal_features(rows_at, history.left_out).columns)


def test_the_import_report_says_which_columns_are_kept_as_inputs(export):
    report = read_export(export, mapping(export, f"features: [{SOURCE}]")).report
    assert report is not None
    assert f"features: 1 column(s) of the export kept as model inputs ({SOURCE})" in report.notes
