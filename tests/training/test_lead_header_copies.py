"""A lead file whose header names a column twice ("Lead Source" at columns 4 and 14): training
and scoring read the first, leave the other out and say so in the file's words, with both
places; no model input, reason or note names pandas' "Lead Source.1"."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.data.generator import generate_leads
from forecast.settings import get_settings
from tests.training.conftest import parsed
from training.cli import app

MAPPING = """kind: leads
dataset: inbound
columns: {id: id, converted: converted, created_at: created_at}
leak_columns: [Tags]
"""


def _with_a_second_lead_source(leads, path: Path) -> Path:
    """The file with a second "Lead Source" column last, its words telling the label apart
    (a model reading it would learn from it at once)."""
    source = ["Referral" if c else "Google" for c in leads["converted"]]
    leads.insert(len(leads.columns), "Lead Source", source, allow_duplicates=True)
    leads.to_csv(path, index=False)
    return path


def test_a_column_named_twice_is_said_with_its_places_and_only_the_first_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FORECAST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FORECAST_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()
    leads = generate_leads(400, seed=3)
    place = list(leads.columns).index("Lead Source") + 1
    last = len(leads.columns) + 1
    history = _with_a_second_lead_source(leads, tmp_path / "history.csv")
    mapping = tmp_path / "inbound.yaml"
    mapping.write_text(MAPPING)
    said = (
        f"the header names a column more than once: 'Lead Source' 2 times (columns {place} "
        f"and {last}); the first of each is read, the others left out"
    )
    runner = CliRunner()
    try:
        trained = runner.invoke(
            app, ["train", "leads", "--data", str(history), "--mapping", str(mapping), "--no-cv"]
        )
        assert trained.exit_code == 0, trained.output
        assert said in " ".join(trained.output.split())
        assert "Lead Source.1" not in trained.output
        new = generate_leads(30, seed=9)
        new["id"] = [f"N{i}" for i in range(30)]
        scored_file = _with_a_second_lead_source(new, tmp_path / "new.csv")
        out = tmp_path / "scores.csv"
        args = ["score", "--kind", "leads", "--data", str(scored_file), "--mapping", str(mapping)]
        scored = runner.invoke(app, [*args, "--out", str(out), "--json"])
        assert scored.exit_code == 0, scored.output
        assert said in parsed(scored)["notes"]
        assert "Lead Source.1" not in scored.output
        assert "Lead Source.1" not in out.read_text()
    finally:
        get_settings.cache_clear()
