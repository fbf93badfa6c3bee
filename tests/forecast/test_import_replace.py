"""`import --replace`: an export read again with a corrected mapping replaces what the dataset
held, in one transaction, and a rejected one leaves the old rows as they were."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from forecast.data import store
from forecast.data.importing import import_export
from forecast.data.mapping import load_mapping
from forecast.errors import ImportRejected, InvalidInput
from tests.forecast.test_import_options import write

DOLLARS = (
    "kind: opportunities\ndataset: c\ncolumns: {id: id, stage: status_label, amount: value, "
    "created_at: date_created, closed_at: date_won}\n"
    "stages: {open: [Demo], won: Won, lost: Lost}\n"
)
CENTS = DOLLARS + "amount: {in_cents: true}\n"


def _export(tmp_path, n: int = 8, name: str = "close.csv"):
    rows = "".join(
        f"oppo_{i},{'Won' if i % 2 else 'Lost'},{i + 1}0000,2024-03-0{i + 1},2024-04-01\n"
        for i in range(n)
    )
    return write(tmp_path, name, "id,status_label,value,date_created,date_won\n" + rows)


def _amounts(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        rows = conn.execute(select(store.opportunities.c.id, store.opportunities.c.amount))
        return {i: a for i, a in rows}


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_an_export_read_again_with_replace_holds_every_deal_as_read_the_second_time(
    engine, tmp_path
):
    file = _export(tmp_path)
    import_export(engine, file, load_mapping(write(tmp_path, "a.yaml", DOLLARS)))
    cents = load_mapping(write(tmp_path, "b.yaml", CENTS))
    fixed = import_export(engine, file, cents, replace=True)
    assert _amounts(engine) == {f"oppo_{i}": (i + 1) * 100.0 for i in range(8)}
    assert fixed.rows_written == 8
    said = [n for n in fixed.notes if n.startswith("--replace")]
    assert len(said) == 1 and "8 deal(s)" in said[0] and "stage entries" in said[0]
    assert not any("same update time" in n for n in fixed.notes)


def test_replace_drops_deals_the_new_export_no_longer_holds_and_their_history(engine, tmp_path):
    mapping = load_mapping(write(tmp_path, "a.yaml", DOLLARS))
    import_export(engine, _export(tmp_path, 8), mapping)
    entries_of_eight = _count(engine, store.stage_history)
    import_export(engine, _export(tmp_path, 3, "fewer.csv"), mapping, replace=True)
    assert set(_amounts(engine)) == {"oppo_0", "oppo_1", "oppo_2"}
    with engine.connect() as conn:
        kept = conn.execute(select(store.stage_history.c.opportunity_id).distinct()).scalars()
        assert set(kept) == {"oppo_0", "oppo_1", "oppo_2"}
    assert 0 < _count(engine, store.stage_history) < entries_of_eight


def test_a_rejected_replace_leaves_every_stored_row_in_place(engine, tmp_path):
    mapping = load_mapping(write(tmp_path, "a.yaml", DOLLARS))
    import_export(engine, _export(tmp_path), mapping)
    before = (_amounts(engine), _count(engine, store.stage_history))
    bad = write(
        tmp_path,
        "bad.csv",
        "id,status_label,value,date_created,date_won\noppo_0,Won,10000,not a date,2024-04-01\n",
    )
    with pytest.raises(ImportRejected):
        import_export(engine, bad, mapping, replace=True)
    assert (_amounts(engine), _count(engine, store.stage_history)) == before


def test_replace_keeps_other_datasets_and_refuses_another_kind(engine, tmp_path):
    file = _export(tmp_path)
    import_export(engine, file, load_mapping(write(tmp_path, "a.yaml", DOLLARS)))
    import_export(engine, file, load_mapping(write(tmp_path, "d.yaml", DOLLARS)), dataset="d")
    import_export(
        engine, _export(tmp_path, 2, "two.csv"), load_mapping(tmp_path / "a.yaml"), replace=True
    )
    with engine.connect() as conn:
        per_dataset = dict(
            conn.execute(
                select(store.opportunities.c.dataset, func.count()).group_by(
                    store.opportunities.c.dataset
                )
            ).all()
        )
    assert per_dataset == {"c": 2, "d": 8}
    leads = write(tmp_path, "leads.csv", "id,Converted,Source\nl1,1,Web\nl2,0,Ads\n")
    lead_mapping = write(tmp_path, "l.yaml", "kind: leads\ncolumns: {id: id, converted: Converted}")
    with pytest.raises(InvalidInput, match="holds opportunities, not leads"):
        import_export(engine, leads, load_mapping(lead_mapping), dataset="c", replace=True)
    assert _count(engine, store.opportunities) == 10


def test_replace_of_a_dataset_not_yet_stored_says_it_held_nothing(engine, tmp_path):
    report = import_export(
        engine, _export(tmp_path), load_mapping(write(tmp_path, "a.yaml", DOLLARS)), replace=True
    )
    assert report.rows_written == 8
    assert any("held nothing before" in n for n in report.notes)


def test_replace_of_a_lead_dataset_holds_the_new_file_s_leads_only(engine, tmp_path):
    text = "kind: leads\ndataset: l\ncolumns: {id: id, converted: Converted}"
    mapping = load_mapping(write(tmp_path, "l.yaml", text))
    import_export(engine, write(tmp_path, "a.csv", "id,Converted\nl1,1\nl2,0\nl3,0\n"), mapping)
    report = import_export(
        engine, write(tmp_path, "b.csv", "id,Converted\nl2,1\nl4,0\n"), mapping, replace=True
    )
    with engine.connect() as conn:
        stored = dict(conn.execute(select(store.leads.c.id, store.leads.c.converted)).all())
    assert stored == {"l2": 1, "l4": 0}
    assert any("3 lead(s)" in n for n in report.notes)


def test_replace_drops_the_backtest_record_of_the_data_it_replaces(engine, tmp_path):
    from datetime import datetime

    mapping = load_mapping(write(tmp_path, "a.yaml", DOLLARS))
    import_export(engine, _export(tmp_path), mapping)
    day = datetime(2024, 4, 1)
    with engine.begin() as conn:
        for dataset in ("c", "other"):
            conn.execute(
                store.track_record.insert().values(
                    dataset=dataset, freq="quarter", run_at=day, origin=day, horizon_weeks=0.0,
                    window_label="2024-Q2", window_start=day, window_end=day, sealed=False,
                    method="ours", actual=1.0, forecast=1.0,
                )
            )  # fmt: skip
    report = import_export(engine, _export(tmp_path), mapping, replace=True)
    with engine.connect() as conn:
        left = conn.execute(select(store.track_record.c.dataset)).scalars().all()
    assert left == ["other"]
    assert any("1 past forecasts of the backtest record" in n for n in report.notes)


def test_replace_refuses_to_skip_bad_rows_and_writes_nothing(engine, tmp_path):
    mapping = load_mapping(write(tmp_path, "a.yaml", DOLLARS))
    import_export(engine, _export(tmp_path), mapping)
    with pytest.raises(InvalidInput, match="--replace cannot skip bad rows"):
        import_export(
            engine, _export(tmp_path, 2, "two.csv"), mapping, on_error="skip", replace=True
        )
    assert len(_amounts(engine)) == 8


def _other_export(tmp_path, ids: list[str], name: str):
    rows = "".join(f"{i},Won,10000,2024-03-01,2024-04-01\n" for i in ids)
    return write(tmp_path, name, "id,status_label,value,date_created,date_won\n" + rows)


def test_an_export_sharing_no_deal_with_the_dataset_is_said_to_be_merged_into_it(engine, tmp_path):
    """A dataset is named after its CRM or mapping, so another company's export under the same
    mapping lands in it: the import says none of its deals was there and how to keep them apart.
    A re-export, or an export sharing a deal, says nothing of it; nor does a first import."""
    mapping = load_mapping(write(tmp_path, "a.yaml", DOLLARS))
    first = import_export(engine, _export(tmp_path, 4), mapping)
    assert not any("was among" in n for n in first.notes)
    other = import_export(engine, _other_export(tmp_path, ["x1", "x2"], "o.csv"), mapping)
    said = [n for n in other.notes if "was among" in n]
    assert len(said) == 1
    assert "none of this file's 2 deals was among the 4 dataset 'c' held" in said[0]
    assert "--dataset NAME" in said[0] and "--replace" in said[0]
    again = import_export(engine, _export(tmp_path, 4), mapping)
    assert not any("was among" in n for n in again.notes)
    overlap = import_export(engine, _other_export(tmp_path, ["x1", "y1"], "p.csv"), mapping)
    assert not any("was among" in n for n in overlap.notes)


OTHER_CRM = (
    "kind: opportunities\ndataset: c\ncolumns: {id: id, stage: status_label, amount: value, "
    "created_at: date_created, closed_at: date_won}\n"
    "stages: {open: [Qualification], won: Closed Won, lost: Closed Lost}\n"
)


def test_an_export_that_would_leave_stored_deals_in_unknown_stages_is_refused(engine, tmp_path):
    """Another CRM's export merged by name would make the dataset's stages its own, and leave
    the deals stored before in stages no longer named: refused, naming them, nothing written.
    Under its own name, or with --replace, it imports."""
    import_export(engine, _export(tmp_path, 4), load_mapping(write(tmp_path, "a.yaml", DOLLARS)))
    before = _amounts(engine)
    rows = "z1,Closed Won,500,2024-03-01,2024-04-01\nz2,Qualification,700,2024-03-02,\n"
    other = write(tmp_path, "z.csv", "id,status_label,value,date_created,date_won\n" + rows)
    mapping = load_mapping(write(tmp_path, "z.yaml", OTHER_CRM))
    with pytest.raises(InvalidInput) as err:
        import_export(engine, other, mapping)
    said = str(err.value)
    assert "dataset 'c' holds deals in stages this import's mapping does not name" in said
    assert "'Won' (2 deal(s))" in said and "'Lost' (2 deal(s))" in said
    assert "--dataset NAME" in said and "--replace" in said and "Nothing was written" in said
    assert _amounts(engine) == before
    with engine.connect() as conn:
        assert store.get_dataset(conn, "c")["stages"]["won"] == "Won"
    assert import_export(engine, other, mapping, dataset="zoho").rows_written == 2
    assert import_export(engine, other, mapping, replace=True).rows_written == 2
