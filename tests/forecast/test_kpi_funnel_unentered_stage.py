"""A funnel stage no deal entered (every deal that reached it skipped past it) has no known
conversion: None in the report and the API's JSON, "–" in the CLI tables and the dashboard's
chart, an empty cell in its CSV. Counting the skippers over themselves would show 100%, a
stage that converts everything, when nothing was seen there."""

from __future__ import annotations

import json

from forecast.kpis import compute_kpis
from serving.dashboard.export import _funnel_rows, to_csv
from serving.dashboard.figures import funnel_figure
from serving.dashboard.page import Section
from tests.forecast.test_kpis import build, history_of
from tests.training.test_kpi_tables import render

# Nobody in North enters Qualified: A and B go from Lead straight to Proposal.
# id, team, owner, product, amount, estimated, csat, [(stage, entered), ...]
SKIPPING = [
    (
        "A",
        "North",
        "ann",
        "X",
        1000.0,
        False,
        None,
        [("Lead", "2024-01-01"), ("Proposal", "2024-01-10"), ("Won", "2024-02-01")],
    ),
    (
        "B",
        "North",
        "ann",
        "X",
        2000.0,
        False,
        None,
        [("Lead", "2024-01-02"), ("Proposal", "2024-01-12"), ("Lost", "2024-02-02")],
    ),
    (
        "C",
        "North",
        "ann",
        "X",
        500.0,
        False,
        None,
        [("Lead", "2024-01-03"), ("Lost", "2024-01-20")],
    ),
    ("D", "North", "ann", "X", 800.0, False, None, [("Lead", "2024-01-04")]),
]
# South's one deal goes through every stage.
THROUGH = (
    "E",
    "South",
    "bob",
    "Y",
    900.0,
    False,
    None,
    [
        ("Lead", "2024-01-05"),
        ("Qualified", "2024-01-20"),
        ("Proposal", "2024-01-25"),
        ("Won", "2024-02-10"),
    ],
)


def conversions(row: dict) -> dict[str, float | None]:
    return {f["stage"]: f["conversion"] for f in row["funnel"]}


def test_a_stage_no_deal_entered_has_an_unknown_conversion_not_100_percent():
    funnel = compute_kpis(history_of(*build(SKIPPING))).overall["funnel"]
    # A and B skipped Qualified: they reached it, none entered it.
    assert [f["reached"] for f in funnel] == [4, 2, 2]
    # Lead: A, B moved on, C was lost, D is still in it: 2 of 3. Proposal: A won, B lost.
    assert [f["conversion"] for f in funnel] == [2 / 3, None, 0.5]


def test_a_stage_entered_in_one_group_only_is_unknown_in_the_others():
    report = compute_kpis(history_of(*build([*SKIPPING, THROUGH])), by="team")
    assert conversions(report.row("North"))["Qualified"] is None
    assert conversions(report.row("South"))["Qualified"] == 1.0  # E entered it and moved on
    # Overall, E entered Qualified: A, B and E reached it, all three moved on to Proposal.
    assert conversions(report.overall)["Qualified"] == 1.0


def test_a_stage_is_judged_by_who_had_entered_it_as_of_the_date():
    history = history_of(*build([*SKIPPING, THROUGH]))
    # On 15 January A and B have skipped past Qualified and E is still in Lead: nobody has
    # entered Qualified yet. By the 26th E has entered it and moved on.
    before = compute_kpis(history, as_of="2024-01-15").overall
    assert [f["reached"] for f in before["funnel"]] == [5, 2, 2]
    assert conversions(before)["Qualified"] is None
    assert conversions(compute_kpis(history, as_of="2024-01-26").overall)["Qualified"] == 1.0


def test_the_unknown_conversion_is_null_in_json_and_a_dash_in_the_cli_tables():
    report = compute_kpis(history_of(*build(SKIPPING)), by="team")
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert conversions(data["overall"])["Qualified"] is None
    text = render(report)
    stage = next(line for line in text.splitlines() if line.strip("│ ").startswith("Qualified"))
    assert [c.strip() for c in stage.split("│")][1:6] == ["Qualified", "2", "0", "Proposal", "–"]
    funnel = text[text.index("Funnel: deals reaching each stage") :]
    north = next(line for line in funnel.splitlines() if line.strip("│ ").startswith("North"))
    assert [c.strip() for c in north.split("│")][2:5] == [
        "4 (66.7%; 1 in)",
        "2 (–; 0 in)",
        "2 (50.0%; 0 in)",
    ]
    assert "A stage no deal entered (all skipped past it), or none has left, shows –." in (
        " ".join(text.split())
    )


def test_the_dashboard_chart_shows_a_dash_and_the_csv_an_empty_cell():
    row = compute_kpis(history_of(*build(SKIPPING))).overall
    trace = funnel_figure(Section({"row": row}))["data"][0]
    assert trace["text"][1] == "2 · – on · 0 still in"
    lines = to_csv(_funnel_rows(row)).splitlines()
    header = lines[0].split(",")
    qualified = dict(zip(header, lines[2].split(","), strict=True))
    assert qualified["stage"] == "Qualified" and qualified["conversion"] == ""


# A flat export: each deal seen once, in its current stage or its outcome (a lost deal's stage
# at the loss where the export says it), no path between.
FLAT = [
    ("F1", "North", "ann", "X", 100.0, False, None, [("Won", "2024-02-01")]),
    ("F2", "North", "ann", "X", 200.0, False, None, [("Won", "2024-02-02")]),
    (
        "F3",
        "North",
        "ann",
        "X",
        300.0,
        False,
        None,
        [("Lead", "2024-01-20"), ("Lost", "2024-02-03")],
    ),
    ("F4", "North", "ann", "X", 400.0, False, None, [("Lead", "2024-01-05")]),
]


def test_a_flat_export_skips_no_stage_anyone_knows_of_and_keeps_its_conversions():
    """Where no deal's record shows it before and after a stage, nobody is known to have
    skipped it: a won deal seen only won passed through every stage, as the funnel counted."""
    funnel = compute_kpis(history_of(*build(FLAT))).overall["funnel"]
    assert [f["reached"] for f in funnel] == [4, 2, 2]
    # Lead: the two won moved on, F3 was lost there, F4 is still in it; then both won went on.
    assert [f["conversion"] for f in funnel] == [2 / 3, 1.0, 1.0]
