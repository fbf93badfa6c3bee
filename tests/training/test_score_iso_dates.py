"""`forecast score` reads a lead file's ISO 8601 dates (2024-03-14) whatever `date_format` the
model's mapping names (day first, "%d/%m/%Y"), as the scoring API reads them: an ISO date
cannot be read two ways. It refused the file, naming a format to add."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.data.generator import generate_leads
from forecast.settings import get_settings
from tests.training.conftest import parsed
from training.cli import app

MAPPING = """kind: leads
dataset: inbound
columns: {id: id, converted: converted, created_at: created_at}
date_format: "%d/%m/%Y"
leak_columns: [Tags]
"""


def test_iso_dates_are_read_whatever_the_mappings_date_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FORECAST_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()
    history = generate_leads(400, seed=3)
    history["created_at"] = pd.to_datetime(history["created_at"]).dt.strftime("%d/%m/%Y")
    history.to_csv(tmp_path / "history.csv", index=False)
    mapping = tmp_path / "inbound.yaml"
    mapping.write_text(MAPPING)
    new = generate_leads(30, seed=9).drop(columns=["converted"])
    new["id"] = [f"N{i}" for i in range(30)]
    new["created_at"] = ["2024-03-14", "2024-03-15T09:30:00Z"] * 15
    new.to_csv(tmp_path / "new.csv", index=False)
    runner = CliRunner()
    try:
        trained = runner.invoke(
            app,
            ["train", "leads", "--data", str(tmp_path / "history.csv")]
            + ["--mapping", str(mapping), "--no-cv"],
        )
        assert trained.exit_code == 0, trained.output
        out = tmp_path / "scores.csv"
        args = ["score", "--kind", "leads", "--data", str(tmp_path / "new.csv")]
        scored = runner.invoke(app, [*args, "--mapping", str(mapping), "--out", str(out), "--json"])
        assert scored.exit_code == 0, scored.output
        said = " ".join(parsed(scored)["notes"])
        assert "date" not in said or "2024-03-14" not in said  # no date left unread
        scores = pd.read_csv(out)
        assert len(scores) == 30
        assert "undated" not in out.read_text()
    finally:
        get_settings.cache_clear()


def test_a_lead_files_iso_dates_are_read_as_written_beside_the_mappings_own(tmp_path: Path):
    """The import reads each date once: day first by the mapping, ISO ones as ISO."""
    from forecast.data.importing import read_export

    file = tmp_path / "leads.csv"
    file.write_text(
        "id,created_at,Lead Source,converted\n"
        "L1,03/04/2024,Google,1\nL2,2024-03-14,Google,0\nL3,2024-03-15T09:30:00Z,Direct,0\n"
    )
    mapping = tmp_path / "inbound.yaml"
    mapping.write_text(MAPPING)
    export = read_export(file, mapping)
    assert export.report.ok
    created = export.leads.set_index("id")["created_at"].astype(str).to_dict()
    assert created == {
        "L1": "2024-04-03 00:00:00",
        "L2": "2024-03-14 00:00:00",
        "L3": "2024-03-15 09:30:00",
    }
