"""The CSAT scale an export's import read is kept with its dataset, and a CRM's pushes are held
to it: a 9 pushed to a dataset whose export scored 1–5 is refused naming the field and the
scale, nothing written, instead of being averaged by the KPIs with the 1–5 scores."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from forecast.data import store
from forecast.data.dataset_options import DatasetOptions
from forecast.data.importing import import_export
from forecast.data.sync import sync_opportunities
from forecast.errors import InvalidInput
from tests.forecast.test_import_csat import HEADER, SCORED, _won
from tests.forecast.test_import_options import DEALS, mapping, write


def _import(engine: Engine, tmp_path, scores: list[str] | None, base: str = SCORED):
    """An export of won deals D1… scored `scores` (None: a file without a CSAT column)."""
    if scores is None:
        rows = "".join(f"D{i},Closed Won,100,2024-01-05,2024-02-20\n" for i in (1, 2))
        text, base = HEADER.replace(",Satisfaction", "") + rows, DEALS
    else:
        text = HEADER + _won(scores)
    return import_export(engine, write(tmp_path, "deals.csv", text), mapping(tmp_path, base=base))


def _options(engine: Engine) -> DatasetOptions:
    with engine.connect() as conn:
        return DatasetOptions.from_dict(store.get_dataset(conn, "acme")["options"])


def _push(engine: Engine, csat: float, deal: str = "D1", **extra):  # noqa: ANN202
    state = {"id": deal, "stage": "Won", "updated_at": "2024-03-01T00:00:00Z", "amount": 100}
    state["csat"] = csat
    return sync_opportunities(engine, [{**state, **extra}], dataset="acme", where="")


def _csat(engine: Engine, deal: str) -> float:
    return float(store.load_opportunities(engine, "acme").set_index("id").loc[deal, "csat"])


def test_a_push_is_held_to_the_scale_its_datasets_export_was_read_on(engine, tmp_path):
    _import(engine, tmp_path, ["5", "4", "1", "3"])
    assert _options(engine).csat_scale == (1.0, 5.0)

    assert _push(engine, 4).deals[0].outcome == "changed"
    assert _csat(engine, "D1") == 4.0

    with pytest.raises(InvalidInput) as refused:
        _push(engine, 9, updated_at="2024-03-02T00:00:00Z", amount=999)
    assert str(refused.value) == (
        "csat: 9 is outside this dataset's CSAT scale 1–5 (its import read the export's scores "
        "on it); nothing was written"
    )
    stored = store.load_opportunities(engine, "acme").set_index("id")
    assert stored.loc["D1", "csat"] == 4.0 and stored.loc["D1", "amount"] == 100.0
    assert _options(engine).csat_scale == (1.0, 5.0)  # the push kept the dataset's scale


def test_a_batch_names_the_deal_whose_score_is_off_the_scale(sqlite_engine, tmp_path):
    _import(sqlite_engine, tmp_path, ["5", "4", "1", "3"])
    deals = [
        {"id": f"D{i}", "stage": "Won", "updated_at": "2024-03-01T00:00:00Z", "csat": c}
        for i, c in ((1, 2), (2, 0.5))
    ]
    with pytest.raises(InvalidInput, match=r"^opportunities\[1\]\.csat: 0\.5 is outside .* 1–5"):
        sync_opportunities(sqlite_engine, deals, dataset="acme")
    assert _csat(sqlite_engine, "D1") == 5.0  # D1's valid 2 was not written either


def test_without_a_csat_column_a_push_is_held_to_0_to_100_only(sqlite_engine, tmp_path):
    _import(sqlite_engine, tmp_path, None)
    assert _options(sqlite_engine).csat_scale is None
    _push(sqlite_engine, 9)
    assert _csat(sqlite_engine, "D1") == 9.0


def test_an_import_replaces_the_kept_scale_or_drops_it_and_changes_nothing_again(
    sqlite_engine, tmp_path
):
    _import(sqlite_engine, tmp_path, ["5", "4", "1", "3"])
    again = _import(sqlite_engine, tmp_path, ["5", "4", "1", "3"])
    assert not again.changed  # the same export, the same scale: the same version

    _import(sqlite_engine, tmp_path, ["85", "92", "40", "100"])
    assert _options(sqlite_engine).csat_scale == (0.0, 100.0)
    _push(sqlite_engine, 9)
    assert _csat(sqlite_engine, "D1") == 9.0

    _import(sqlite_engine, tmp_path, None)  # an export without CSAT: no scale kept
    with sqlite_engine.connect() as conn:
        assert "csat_scale" not in store.get_dataset(conn, "acme")["options"]
    assert _options(sqlite_engine).csat_scale is None


def test_the_stored_scale_reads_back_typed():
    assert DatasetOptions.from_dict({"csat_scale": [0, 10]}).csat_scale == (0.0, 10.0)
    assert DatasetOptions.from_dict({}).csat_scale is None
