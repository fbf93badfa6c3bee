"""A drafted mapping's stage probabilities say what they are and what they are not: read off the
export's deals (what the CRM shows per stage), not win rates measured on the data; a stage whose
deals show no probability is named, not placed in the funnel as if it were known, and not scored
as its neighbour."""

from __future__ import annotations

from pathlib import Path

from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from forecast.modeling.scorers import crm_stage_scorer
from forecast.modeling.stage_prior import stage_probabilities
from tests.forecast.test_import_options import write

#: A monday.com-like board: a "Close Probability" per status, none on "Stuck".
PLAN = {
    "New Lead": "10%",
    "Meeting Booked": "25%",
    "Negotiating": "75%",
    "Stuck": "",
    "Closed Won": "100%",
    "Lost": "0%",
}


def _board(folder: Path) -> Path:
    rows = ["Deal,Status,Close Probability,Value,Created,Owner"]
    for i, (stage, probability) in enumerate(p for p in PLAN.items() for _ in range(6)):
        rows.append(f"D{i},{stage},{probability},{100 * (i + 1)},2024-01-{1 + i % 28:02d},Ann")
    return write(folder, "board.csv", "\n".join(rows) + "\n")


def test_a_stage_without_a_probability_is_named_and_not_given_a_place_or_a_value(tmp_path):
    draft = draft_mapping(_board(tmp_path))
    assert "    - Stuck   # no probability in the export: place it" in draft.text
    [said] = [c for c in draft.checks if c.startswith("stage 'Stuck'")]
    assert "its place in the funnel is not known" in said
    assert "scores as a deal at creation" in said
    mapping = load_mapping(write(tmp_path, "board.mapping.yaml", draft.text))
    assert "Stuck" not in mapping.stage_probabilities
    prior = stage_probabilities(mapping.stage_set.open_stages, mapping.stage_probabilities)
    assert prior is not None and "Stuck" not in prior  # not the 75% of the stage beside it


def test_the_drafted_probabilities_are_said_the_same_way_in_the_mapping_and_its_checks(tmp_path):
    draft = draft_mapping(_board(tmp_path))
    [origin] = [line for line in draft.text.splitlines() if "stage_probabilities_from" in line]
    [check] = [c for c in draft.checks if c.startswith("stage_probabilities:")]
    assert "read off the export's deals, not win rates" in origin
    assert "not a win rate measured on the data" in check
    # The two said opposite things: "not the CRM's setting" beside "the CRM's setting".
    assert "not the CRM's setting" not in draft.text
    assert "CRM's setting" not in check


def test_the_fallback_scores_no_stage_below_the_win_rate_the_data_shows():
    """Without a champion, a CRM's 10% for the first stage put every new deal at risk where
    44% of deals were won: no stage scores below the overall win rate, and says so."""
    scorer = crm_stage_scorer({"New": 0.1, "Demo": 0.3, "Negotiation": 0.6}, 0.44, "estimated")
    rows = [{"stage": s} for s in ("New", "Demo", "Negotiation")]
    rates = scorer.fallback_rates(scorer.fallback_inputs(rows))
    assert list(rates) == [0.44, 0.44, 0.6]
    assert "none below the overall win rate, 44%" in scorer.label
    assert scorer.rate_sentence("New", 0.44).startswith("Stage = New: overall win rate 44%")
    assert scorer.rate_sentence("Negotiation", 0.6).startswith(
        "Stage = Negotiation: the stage probability read off the export's deals 60%"
    )
