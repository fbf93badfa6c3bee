"""Stage probabilities are said as what they are: a preset's are the CRM's stock ones, a
mapping's own are the mapping's, and those a drafted mapping read off the export's deals are
said so: never "the CRM's" (a user would take them for the CRM's setting), nor "estimated from
the data" (a user would take them for win rates measured on it)."""

from __future__ import annotations

import pandas as pd

from forecast import scoring
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from forecast.data.stages import StageSet
from forecast.history import DealHistory
from forecast.model_set import deal_fallback
from tests.forecast.test_import_options import write
from tests.forecast.test_mapping_draft_crms import pipedrive_export

STAGES = StageSet(["Contact Made", "Demo Scheduled", "Proposal Made"], "Won", "Lost")


def _flat_history(origin: str | None) -> DealHistory:
    """Open deals in their current stages only (a flat export) with stage probabilities."""
    deals = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "stage": ["Contact Made", "Demo Scheduled", "Proposal Made"],
            "status": "open",
            "created_at": pd.Timestamp("2024-01-02"),
            "closed_at": pd.NaT,
        }
    )
    log = pd.DataFrame(
        {"opportunity_id": deals["id"], "stage": deals["stage"], "entered_at": deals["created_at"]}
    )
    options: dict = {
        "stage_probabilities": {"Contact Made": 0.2, "Demo Scheduled": 0.5, "Proposal Made": 0.7}
    }
    if origin is not None:
        options["stage_probabilities_from"] = origin
    return DealHistory.from_frames(deals, log, STAGES, options=options, name="crm")


def test_a_drafted_mapping_records_its_stage_probabilities_as_estimated(tmp_path):
    plan = {"Contact Made": (1, 9, 3), "Demo Scheduled": (3, 7, 1), "Proposal Made": (6, 4, 2)}
    text = draft_mapping(pipedrive_export(tmp_path, plan)).text
    assert "stage_probabilities_from: estimated" in text
    mapping = load_mapping(write(tmp_path, "drafted.yaml", text))
    assert mapping.stage_probabilities  # the estimate is there to score a flat export by
    assert mapping.options["stage_probabilities_from"] == "estimated"


def test_a_presets_probabilities_are_the_crms_and_a_mappings_own_are_the_mappings(tmp_path):
    assert load_mapping("hubspot").options["stage_probabilities_from"] == "preset"
    own = write(
        tmp_path,
        "own.yaml",
        "preset: hubspot\nstage_probabilities: {Appointment Scheduled: 0.3}\n",
    )
    assert load_mapping(own).options["stage_probabilities_from"] == "mapping"
    assert "stage_probabilities_from" not in load_mapping("canonical").options  # none given


def test_the_fallback_of_estimated_probabilities_does_not_call_them_the_crms():
    scorer = deal_fallback(_flat_history("estimated"), None)
    served = scoring.Served(scoring.DEAL, scorer, None, "fallback")
    [scored] = scoring.score(served, [{"stage": "Proposal Made"}])
    said = " ".join([scorer.label, *(r["sentence"] for r in scored.reasons_for)])
    assert "read off the export's deals" in scorer.label
    assert "the stage probability read off the export's deals" in said
    assert "CRM" not in said and "estimated" not in said


def test_the_fallback_says_whose_probabilities_it_scores_by():
    preset = deal_fallback(_flat_history("preset"), None)
    assert "the CRM's preset stage probabilities" in preset.label
    given = deal_fallback(_flat_history(None), None)  # a dataset imported before: a mapping's
    assert "the mapping's stage probabilities" in given.label
