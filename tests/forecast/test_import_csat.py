"""A CSAT column is read on its file's scale (1–5, 0–10 or 0–100): a value on no scale is a bad
row named by line and column, a stray score outside the file's scale is not kept and said, so
the KPIs' average satisfaction is not moved by a typo or another survey's score."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data.importing import _Job, read_export
from forecast.errors import ImportRejected
from tests.forecast.test_import_options import DEALS, mapping, write

SCORED = DEALS.replace("  closed_at: Closed\n", "  closed_at: Closed\n  csat: Satisfaction\n")
HEADER = "Deal ID,Stage,Amount,Created,Closed,Satisfaction\n"


def _won(scores: list[str]) -> str:
    return "".join(
        f"D{i},Closed Won,100,2024-01-05,2024-02-20,{score}\n"
        for i, score in enumerate(scores, start=1)
    )


def _read(tmp_path, scores: list[str], on_error: str = "reject"):
    file = write(tmp_path, "deals.csv", HEADER + _won(scores))
    return read_export(file, mapping(tmp_path, base=SCORED), on_error=on_error)


def test_a_file_of_1_to_5_scores_is_read_on_that_scale_and_said(tmp_path):
    export = _read(tmp_path, ["4", "5", "1", "3", ""])
    assert export.opportunities["csat"].tolist()[:4] == [4.0, 5.0, 1.0, 3.0]
    assert export.report is not None and export.report.ok
    assert (
        "Satisfaction: CSAT read on a 1–5 scale, as its values show; the KPIs average it as given"
        in export.report.notes
    )


def test_a_stray_score_outside_the_files_scale_is_not_kept_and_named_by_its_line(tmp_path):
    scores = ["4", "5", "3"] * 40 + ["7", "0"]  # 122 scores of 1–5, a 7 and a 0 among them
    export = _read(tmp_path, scores)
    deals = export.opportunities.set_index("id")
    assert len(deals) == 122  # every deal imported
    assert pd.isna(deals.loc["D121", "csat"]) and pd.isna(deals.loc["D122", "csat"])
    assert deals["csat"].max() == 5.0 and deals["csat"].count() == 120
    assert export.report is not None and export.report.ok
    assert (
        "Satisfaction: 2 CSAT value(s) outside the file's 1–5 scale (line(s) 122, 123): not "
        "kept, the deals kept without one (a score of another survey, or a typo?)"
        in export.report.notes
    )


@pytest.mark.parametrize(
    ("scores", "scale"),
    [(["0", "7", "10", "9"], "0–10"), (["85", "92", "40", "100"], "0–100")],
)
def test_scores_out_of_10_or_percents_are_read_on_their_scale(tmp_path, scores, scale):
    export = _read(tmp_path, scores)
    assert export.opportunities["csat"].tolist() == [float(s) for s in scores]
    assert export.report is not None
    assert f"Satisfaction: CSAT read on a {scale} scale, as its values show; " in "".join(
        export.report.notes
    )
    assert not any("outside the file's" in n for n in export.report.notes)


def test_a_score_below_0_or_above_100_is_a_bad_row_naming_its_line_and_column(tmp_path):
    with pytest.raises(ImportRejected) as caught:
        _read(tmp_path, ["4", "-1", "5", "450"])
    problems = caught.value.report.examples
    assert [(p.row, p.column, p.value) for p in problems] == [
        (3, "Satisfaction", "-1"),
        (5, "Satisfaction", "450"),
    ]
    assert {p.kind for p in problems} == {
        "CSAT outside 0–100 (no satisfaction scale goes below 0 or above 100)"
    }
    skipped = _read(tmp_path, ["4", "-1", "5", "450"], on_error="skip")
    assert sorted(skipped.opportunities["id"]) == ["D1", "D3"]


def test_the_scale_decided_on_the_first_chunk_judges_the_later_ones(tmp_path):
    file = write(tmp_path, "deals.csv", HEADER + _won(["4", "5", "8", "2"]))
    job = _Job(file, mapping(tmp_path, base=SCORED), "reject", chunk_rows=2)
    deals = pd.concat([p.opportunities for p in job.parts(stored=None)]).set_index("id")
    job.finish()
    assert deals["csat"].isna().tolist() == [False, False, True, False]
    assert any(
        "1 CSAT value(s) outside the file's 1–5 scale (line(s) 4)" in n for n in job.report.notes
    )
