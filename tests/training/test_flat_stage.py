"""A flat CRM export (current stage only, no stage dates) trains, and training says plainly that
the model cannot learn stage from it; the same deals with stage dates get no such warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.data.crm_exports import crm_stages, write_crm_export
from forecast.data.generator import generate_pipeline
from forecast.data.importing import read_export
from forecast.history import DealHistory
from forecast.modeling.deal_fitting import train_deals
from forecast.settings import Settings


def _history(folder: Path, durations: bool) -> DealHistory:
    pipeline = generate_pipeline(600, seed=21, stages=crm_stages("hubspot"))
    export = read_export(
        write_crm_export(pipeline, folder, "hubspot", durations=durations, seed=21)
    )
    return DealHistory.from_frames(
        export.opportunities, export.history, export.stages, options=export.options, name="crm"
    )


@pytest.mark.parametrize("durations", [False, True])
def test_training_on_a_flat_export_says_the_stage_history_is_flat(tmp_path, durations):
    history = _history(tmp_path, durations)
    result = train_deals(history, settings=Settings(state_dir=tmp_path / "state"), dataset="crm")
    flat = [w for w in result.warnings if w.startswith("the stage history is flat")]
    assert bool(flat) is not durations, result.warnings
